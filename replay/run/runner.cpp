#include "run/runner.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <thread>

#include "common/build_info.hpp"
#include "common/clock.hpp"
#include "common/errors.hpp"
#include "common/sha256.hpp"
#include "common/stop.hpp"
#include "plan/plan.hpp"
#include "plan/streamed_plan.hpp"
#include "probes/data_ready.hpp"
#include "probes/host_probe.hpp"
#include "probes/net_softirq.hpp"
#include "receiver/connection.hpp"
#include "receiver/harness.hpp"
#include "receiver/mode.hpp"
#include "report/progress.hpp"
#include "run/thread_placement.hpp"
#include "results/writer.hpp"
#include "source/source_stream.hpp"
#include "transport/network.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;

// Time between the connections being ready and the first planned send: lets both
// threads reach their loops before the clock starts.
constexpr int64_t kStartDelayNs = 20'000'000;

// A plain scalar keeps the type YAML 1.2's core schema gives it (3 and 0.5 are numbers,
// true is a bool, ~ is null); a quoted or explicitly tagged one stays the string it is.
json yaml_scalar_to_json(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() != "?") return text;
  if (text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (int64_t i = 0; YAML::convert<int64_t>::decode(node, i)) return i;
  if (uint64_t u = 0; YAML::convert<uint64_t>::decode(node, u)) return u;
  if (double d = 0; YAML::convert<double>::decode(node, d) && std::isfinite(d)) return d;
  return text;
}

json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json j = json::object();
      for (const auto& kv : node) j[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      json j = json::array();
      for (const auto& item : node) j.push_back(yaml_to_json(item));
      return j;
    }
    case YAML::NodeType::Scalar: return yaml_scalar_to_json(node);
    default: return nullptr;
  }
}

// Measured frames by how many planned segments carry their bytes: [{segments, frames}].
json segments_per_frame_histogram(const ReplayPlan& plan) {
  json bins = json::array();
  for (const auto& [segments, frames] : plan.measured_frames_by_segments())
    bins.push_back({{"segments", segments}, {"frames", frames}});
  return bins;
}

json plan_summary(const Scenario& sc, const ReplayPlan& plan) {
  return {{"source", plan.source_description},
          {"framing", sc.framing.name},
          {"stream_bytes", plan.stream_size()},
          {"frames", plan.frame_count()},
          {"warmup_frames", plan.warmup_frames},
          {"segments", plan.segment_count()},
          {"segments_per_frame", plan.planned_segments_per_frame()},
          {"segments_per_frame_histogram", segments_per_frame_histogram(plan)},
          {"duration_s", double(plan.duration_ns()) / 1e9},
          {"cut", to_string(sc.segmentation.kind)},
          {"storage", plan.streamed ? "streamed" : "held"},
          {"connections", sc.receiver.connections}};
}

// Before anything runs: a CPU the process may not use would fail every repetition.
// A remote receiver's CPU is the other host's to check.
void check_pinning(const Scenario& sc, bool receiver_here) {
  const std::vector<int> allowed = allowed_cpus();
  for (auto [key, pinning] : {std::pair{"receiver.cpu", receiver_here ? sc.receiver.cpu : CpuPinning{}},
                              {"sender.cpu", sc.sender.cpu}})
    for (uint32_t cpu : pinning.cpus)
      if (std::find(allowed.begin(), allowed.end(), int(cpu)) == allowed.end())
        throw InputError(fmt::format("{}: {} {} is not a CPU this process may run on (allowed: {})", sc.path, key,
                                     cpu, fmt::join(allowed, ",")));
}

json pinning_json(const Scenario& sc) {
  // One CPU as a number (as configured before lists were allowed), several as a list.
  auto cpu = [](const CpuPinning& p) {
    return p.cpus.empty() ? json(nullptr) : p.cpus.size() == 1 ? json(p.cpus[0]) : json(p.cpus);
  };
  return {{"receiver_cpu", cpu(sc.receiver.cpu)}, {"sender_cpu", cpu(sc.sender.cpu)}};
}

// 2026-11-21T21:04:05.123Z
std::string rfc3339_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms);
}

// 1, 5 and 15 minute load averages: a busy host merges wakeups and inflates times.
json load_average() {
  double load[3];
  if (getloadavg(load, 3) != 3) return nullptr;
  return {{"1m", load[0]}, {"5m", load[1]}, {"15m", load[2]}};
}

// What produced the run, filled in before anything runs (ended_at and the load
// average after are added at the end).
json provenance_json(const Scenario& sc, const RunSettings& settings, const std::vector<std::string>& modes) {
  const BuildInfo& build = build_info();
  json capture = nullptr;
  if (sc.source.kind == Source::Kind::Capture)
    capture = {{"path", std::filesystem::absolute(sc.source.capture.path).lexically_normal().string()},
               {"sha256", sha256_of_file(sc.source.capture.path)}};
  return {{"tool", "rcvqbench"},
          {"version", build.version},
          {"commit", build.commit},
          {"build_type", build.build_type},
          {"command_line", settings.command_line.empty() ? json(nullptr) : json(settings.command_line)},
          {"modes", modes},
          {"modes_overridden", !settings.modes.empty()},
          {"started_at", rfc3339_now()},
          {"load_average", {{"before", load_average()}}},
          {"capture", capture}};
}

// The sender's p99 lateness beyond a quarter of the frame period means the planned
// load was never offered.
void warn_on_schedule_not_kept(RunResult& result) {
  for (const ModeResult& m : result.modes) {
    if (m.repetitions.empty()) continue;
    const json metrics = aggregate_metrics(m);
    if (metrics["schedule_kept"] != false) continue;
    const json& lateness = metrics["send_lateness_ns"];
    // A percentile is its bucket's highest equivalent value, which can pass the exact max.
    const double max_us = lateness["max"].get<double>() / 1e3;
    const double p99_us = std::min(lateness["p99"].get<double>() / 1e3, max_us);
    const std::string warning = fmt::format(
        "{}: the sender ran {:.1f} us behind its schedule at p99 (max {:.1f} us), more than {} of the {:.1f} us "
        "frame period: the planned load was not offered and its latencies (marked !) include the sender's lag",
        m.mode, p99_us, max_us, kScheduleLatenessFraction, metrics["frame_period_ns"].get<double>() / 1e3);
    result.warnings.push_back(warning);
  }
}

// Connection `index`'s thread when `count` connections are cut into `threads`
// contiguous blocks whose sizes differ by at most one.
uint32_t thread_of(uint32_t index, uint32_t count, uint32_t threads) {
  const uint32_t small = count / threads, big_blocks = count % threads;
  const uint32_t in_big = big_blocks * (small + 1);
  return index < in_big ? index / (small + 1) : big_blocks + (index - in_big) / small;
}

// Connecting and accepting alternate in batches below the listen backlog, so any
// number of connections fits the accept queue and each accept poll waits for one.
constexpr uint32_t kConnectBatch = 512;

Measured sum_measured(const Measured& a, const Measured& b) {
  return a.value && b.value ? Measured::of(*a.value + *b.value) : (a.value ? b : a);
}

json thread_figures(const ModeRepetition& r, size_t connections) {
  auto value = [](const Measured& m) { return m.value ? json(*m.value) : json(nullptr); };
  return {{"connections", connections}, {"frames", r.frames},         {"wakeups", r.counters.wakeups},
          {"syscalls", r.counters.syscalls()}, {"cpu_us", value(r.cpu_us)}, {"ctx_switches", value(r.ctx_switches)}};
}

// Frames and integrity of every connection in a few numbers: at 10,000 connections a
// row each would outweigh the rest of run.json.
json connection_summary(const std::vector<const ReceiverHarness*>& harnesses, const ReplayPlan& plan) {
  constexpr size_t kListedFailures = 16;
  uint64_t count = 0, min_frames = UINT64_MAX, max_frames = 0, ok = 0;
  json failed = json::array();
  for (const ReceiverHarness* h : harnesses)
    for (const Connection& c : h->connections()) {
      ++count;
      min_frames = std::min(min_frames, c.frames_completed());
      max_frames = std::max(max_frames, c.frames_completed());
      if (c.frames_completed() == plan.frame_count() && c.hash() == plan.stream_hash())
        ++ok;
      else if (failed.size() < kListedFailures)
        failed.push_back(c.index());
    }
  return {{"count", count},
          {"frames_min", count ? min_frames : 0},
          {"frames_max", max_frames},
          {"integrity_ok", ok},
          {"integrity_failed_first", failed}};
}

// Every receiver thread's repetition folded into one: per-frame metrics over all
// connections, CPU and counters summed, the window from the first start to the last end.
ModeRepetition combine(std::vector<ModeRepetition> parts) {
  ModeRepetition total = std::move(parts[0]);
  std::vector<std::string> problems;
  if (!total.integrity_ok) problems.push_back(total.integrity_detail);
  for (size_t t = 1; t < parts.size(); ++t) {
    const ModeRepetition& p = parts[t];
    total.frames += p.frames;
    total.bytes += p.bytes;
    total.counters += p.counters;
    total.kernel_data_ready = sum_measured(total.kernel_data_ready, p.kernel_data_ready);
    total.kernel_wakeup_edges = sum_measured(total.kernel_wakeup_edges, p.kernel_wakeup_edges);
    total.segments_achieved = sum_measured(total.segments_achieved, p.segments_achieved);
    total.cpu_us = sum_measured(total.cpu_us, p.cpu_us);
    total.cpu_rusage_us = sum_measured(total.cpu_rusage_us, p.cpu_rusage_us);
    total.ctx_switches = sum_measured(total.ctx_switches, p.ctx_switches);
    total.latency.merge(p.latency);
    total.latency_from_send.merge(p.latency_from_send);
    // send_lateness: every part recorded the same merged sent_ns; the first one's stands.
    total.wall_ns = std::max(total.wall_ns, p.wall_ns);
    if (!p.integrity_ok) problems.push_back(p.integrity_detail);
    total.integrity_ok = total.integrity_ok && p.integrity_ok;
  }
  if (parts.size() > 1) {
    total.net_softirq_outside_receiver_us =
        Measured::missing("the softirq probe leaves out one receiver thread, and this run had several");
    if (!problems.empty()) total.integrity_detail = fmt::format("{}", fmt::join(problems, "; "));
  }
  return total;
}

ModeRepetition run_once(const Scenario& sc, const ReplayPlan& plan, Network& network, const ModeDefinition& def,
                        DataReadyProbe& data_ready, NetSoftirqProbe& softirq, ProgressReporter& progress) {
  StopSignal& stop = StopSignal::instance();
  const uint32_t connections = sc.receiver.connections;
  std::unique_ptr<ReceiverMode> mode = def.make(sc);
  std::vector<std::unique_ptr<ReceiverHarness>> harnesses;
  harnesses.push_back(std::make_unique<ReceiverHarness>(sc, network, *mode, data_ready));
  for (uint32_t t = 1; t < sc.receiver.threads; ++t)
    harnesses.push_back(std::make_unique<ReceiverHarness>(sc, *harnesses[0], *mode, data_ready));
  if (harnesses.size() == 1) harnesses[0]->measure_softirq_with(&softirq);
  std::vector<std::unique_ptr<Replayer>> replayers;
  for (uint32_t t = 0; t < sc.sender.threads; ++t) replayers.push_back(network.make_replayer(sc));
  // Each sender thread's sockets in a descriptor table of its own, split off before the
  // first connection: the process then holds the two ends of a connection in two tables.
  std::vector<std::unique_ptr<SenderThread>> senders;
  for (size_t t = 0; t < replayers.size(); ++t)
    senders.push_back(std::make_unique<SenderThread>(sc, *replayers[t], uint32_t(t), /*private_fds=*/true));

  // A TAP peer handshakes all its connections in one call; kernel sockets connect in batches.
  const bool kernel_sockets = sc.transport.kind == Transport::Kind::Loopback || sc.transport.kind == Transport::Kind::Veth;
  if (!kernel_sockets) senders[0]->connect(connections);
  for (uint32_t first = 0; first < connections;) {
    const uint32_t sender = thread_of(first, connections, sc.sender.threads);
    const uint32_t receiver = thread_of(first, connections, sc.receiver.threads);
    uint32_t end = first + 1;
    while (end < connections && end - first < kConnectBatch && thread_of(end, connections, sc.sender.threads) == sender &&
           thread_of(end, connections, sc.receiver.threads) == receiver)
      ++end;
    if (kernel_sockets) senders[sender]->connect(end - first);
    harnesses[receiver]->accept_connections(end - first, first);
    first = end;
  }

  const int64_t t0 = monotonic_ns() + kStartDelayNs;
  const int64_t deadline = t0 + plan.duration_ns() + int64_t(sc.run.timeout_s * 1e9);
  progress.schedule(plan.frame_count(), t0, plan.duration_ns());
  // Connection 0's thread stands for the progress of all.
  harnesses[0]->publish_frames_to(&progress.frames_received());
  // A streamed plan's send times reach the receivers through a ring per sender thread,
  // over that thread's block of connections.
  std::vector<std::unique_ptr<FrameSendRing>> rings;
  if (plan.streamed) {
    for (uint32_t t = 0, first = 0; t < sc.sender.threads; ++t) {
      uint32_t end = first;
      while (end < connections && thread_of(end, connections, sc.sender.threads) == t) ++end;
      rings.push_back(std::make_unique<FrameSendRing>(first, end - first));
      first = end;
    }
    for (auto& h : harnesses)
      h->record_latency_as_frames_complete(t0, plan.warmup_frames, [&](uint32_t index) {
        return rings[thread_of(index, connections, sc.sender.threads)].get();
      });
  }
  for (size_t t = 0; t < senders.size(); ++t) senders[t]->start(plan, t0, stop, rings.empty() ? nullptr : rings[t].get());
  std::vector<std::vector<int>> receiver_cpus(harnesses.size());
  std::vector<std::exception_ptr> receiver_errors(harnesses.size());
  // Each receiver loop gets its own thread so its rusage covers nothing else.
  std::vector<std::thread> receivers;
  for (size_t t = 0; t < harnesses.size(); ++t)
    receivers.emplace_back([&, t] {
      try {
        pthread_setname_np(pthread_self(), "rcvq-receiver");  // for perf and top
        apply_realtime_priority(sc.receiver.realtime_priority, "receiver");
        receiver_cpus[t] = pin_calling_thread(sc.receiver.cpu.for_thread(uint32_t(t)), "receiver");
        harnesses[t]->receive(plan, deadline, stop.fd());
      } catch (...) {
        receiver_errors[t] = std::current_exception();
        stop.request();  // unblock the sender and the other receivers; the run is over anyway
      }
    });
  for (std::thread& r : receivers) r.join();
  // Receivers that gave up read no more: a sender waiting for buffer or ring room would
  // wait for ever, so their connections are reset and the rings let go.
  const bool receivers_gave_up =
      std::any_of(receiver_errors.begin(), receiver_errors.end(), [](const std::exception_ptr& e) { return bool(e); }) ||
      std::any_of(harnesses.begin(), harnesses.end(), [](const auto& h) { return h->timed_out(); });
  std::string stall;
  for (auto& h : harnesses)
    if (h->timed_out()) stall += h->stall_report();
  if (receivers_gave_up) {
    for (auto& h : harnesses) h->abandon_connections();
    for (auto& r : rings) r->abandon();
  }
  for (auto& s : senders) s->join();
  for (const std::exception_ptr& e : receiver_errors)
    if (e) std::rethrow_exception(e);
  for (auto& h : harnesses) {
    if (h->stopped()) throw RunError("interrupted");
    if (h->timed_out())
      throw RunError(fmt::format("timed out: no frame arrived for {} s (run.timeout_s){}", sc.run.timeout_s, stall));
  }
  for (auto& s : senders)
    if (s->error) std::rethrow_exception(s->error);
  // For send lateness and the timeline a segment counts as handed over when the last
  // sender thread handed it over; each connection's latencies count from its own thread's.
  auto sent_times = [&](size_t t) -> const std::vector<int64_t>& {
    return plan.streamed ? senders[t]->streamed.timeline_sent_ns : senders[t]->sent_ns;
  };
  std::vector<int64_t> sent_ns = sent_times(0);
  for (size_t t = 1; t < senders.size(); ++t)
    for (size_t s = 0; s < sent_ns.size(); ++s) {
      const int64_t other = s < sent_times(t).size() ? sent_times(t)[s] : 0;
      sent_ns[s] = sent_ns[s] == 0 || other == 0 ? 0 : std::max(sent_ns[s], other);
    }
  std::vector<ModeRepetition> parts;
  json receiver_threads = json::array();
  std::vector<const ReceiverHarness*> views;
  for (auto& h : harnesses) {
    parts.push_back(h->measurements(plan, t0, sent_ns, [&](uint32_t index) -> const std::vector<int64_t>& {
      return senders[thread_of(index, connections, sc.sender.threads)]->sent_ns;
    }));
    receiver_threads.push_back(thread_figures(parts.back(), h->connections().size()));
    receiver_threads.back()["cpus"] = receiver_cpus[receiver_threads.size() - 1];
    views.push_back(h.get());
  }
  ModeRepetition rep = combine(std::move(parts));
  // A streamed plan's lateness is every sender thread's own, where a held plan's is that
  // of the last thread to hand each segment over.
  if (plan.streamed)
    for (auto& s : senders) rep.send_lateness.merge(s->streamed.lateness);
  json sender_stats = json::array();
  json sender_cpus = json::array();
  for (size_t t = 0; t < replayers.size(); ++t) {
    sender_stats.push_back(replayers[t]->stats());
    sender_cpus.push_back(senders[t]->cpus);
  }
  rep.extra["sender"] = replayers.size() == 1 ? sender_stats[0] : sender_stats;
  rep.extra["affinity"] = {{"receiver", receiver_cpus[0]}, {"sender", senders[0]->cpus}};
  rep.extra["receiver_threads"] = receiver_threads;
  rep.extra["sender_threads"] = {{"count", replayers.size()}, {"cpus", sender_cpus}};
  rep.extra["connections"] = connection_summary(views, plan);
  mode->finish(plan, rep);
  return rep;
}

void warn_on_segment_drift(const Scenario& sc, RunResult& result) {
  for (const ModeResult& m : result.modes) {
    if (m.repetitions.empty()) continue;
    const json metrics = aggregate_metrics(m);
    const json& achieved = metrics["segments_per_frame_achieved"];
    const double planned = metrics["segments_per_frame_planned"].get<double>();
    if (!achieved.is_number() || planned <= 0) continue;
    const double drift = std::abs(achieved.get<double>() / planned - 1.0);
    if (drift > 0.05)
      result.warnings.push_back(fmt::format(
          "{}: {:.2f} segments/frame achieved vs {:.2f} planned ({:.0f}% off): the {} transport "
          "merged or split the planned sends{}",
          m.mode, achieved.get<double>(), planned, drift * 100, to_string(sc.transport.kind),
          sc.segmentation.chunk_gap_us == 0 ? " (no gap between chunks lets them coalesce)" : ""));
  }
}

// After a stop request a mode that never completed a repetition has nothing measured:
// it must not read as "ok".
void mark_modes_not_run(RunResult& result) {
  for (ModeResult& m : result.modes)
    if (m.status == "ok" && m.repetitions.empty()) {
      m.status = "not run";
      m.reason = "interrupted before its first repetition completed";
    }
}

// Steal is time the hypervisor ran something else on a CPU this VM thought busy:
// task-clock CPU figures and latencies then carry time nothing here spent.
void warn_on_steal(RunResult& result) {
  constexpr double kNoticeablePercent = 2.0;
  double worst = 0;
  std::string worst_mode;
  for (const ModeResult& m : result.modes)
    for (const ModeRepetition& r : m.repetitions)
      if (r.extra.contains("host_steal_percent") && r.extra["host_steal_percent"].get<double>() > worst) {
        worst = r.extra["host_steal_percent"].get<double>();
        worst_mode = m.mode;
      }
  if (worst > kNoticeablePercent)
    result.warnings.push_back(fmt::format(
        "the hypervisor stole up to {:.0f}% of the CPUs' time during a measured window ({}): task-clock CPU "
        "figures count stolen time and latencies include it; compare CPU on a quieter host",
        worst, worst_mode));
}

// The receivers' ends of every connection share a descriptor table with the probes' and
// the namespaces' descriptors, and each sender thread's ends are in a copy of it
// (SenderThread): raise the soft limit to the hard one, and the hard one when
// privileged and still short.
void raise_fd_limit(const Scenario& sc) {
  constexpr rlim_t kSpareFds = 256;
  const rlim_t needed = rlim_t(sc.receiver.connections) + kSpareFds;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) throw_errno("getrlimit(RLIMIT_NOFILE)");
  if (limit.rlim_cur >= needed) return;
  rlimit raised{std::max(limit.rlim_cur, std::min(needed, limit.rlim_max)), limit.rlim_max};
  if (limit.rlim_max < needed) raised = {needed, needed};
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0 && limit.rlim_max >= needed)
    throw_errno("setrlimit(RLIMIT_NOFILE)");
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) throw_errno("getrlimit(RLIMIT_NOFILE)");
  if (limit.rlim_cur < needed)
    throw RunError(fmt::format("{} connections need {} file descriptors, and RLIMIT_NOFILE stays at {} (hard {}): "
                               "raising the hard limit needs CAP_SYS_RESOURCE and fs.nr_open above it",
                               sc.receiver.connections, needed, limit.rlim_cur, limit.rlim_max));
}

}  // namespace

RunOutcome run_scenario(const Scenario& sc, const RunSettings& settings) {
  StopSignal& stop = StopSignal::instance();
  RunOutcome outcome;
  RunResult& result = outcome.result;
  result.started_utc = utc_timestamp();
  result.scenario = {{"name", sc.name}, {"path", sc.path}, {"config", yaml_to_json(YAML::Load(sc.yaml))}};
  result.host = describe_host();
  result.timing = timing_comparability(result.host);
  check_pinning(sc, settings.remote == nullptr);
  if (!settings.remote) raise_fd_limit(sc);
  result.pinning = pinning_json(sc);

  const std::vector<std::string> modes = settings.modes.empty() ? sc.receiver.modes : settings.modes;
  for (const std::string& name : modes)
    if (!find_mode(name))
      throw InputError(fmt::format("unknown mode '{}' (known: {})", name, fmt::join(mode_names(), ", ")));
  result.provenance = provenance_json(sc, settings, modes);

  if (settings.write_results)
    outcome.destination = settings.results_dir.empty()
                              ? ResultsDestination::new_run_under(settings.results_root, sc.name, result.started_utc)
                              : ResultsDestination::exactly(settings.results_dir);

  const ReplayPlan plan = make_plan(sc, modes_need_whole_plan(modes));
  result.plan = plan_summary(sc, plan);
  const HostProbe probe = probe_host();
  result.probe = probe.to_json();
  std::optional<RemoteSetup> remote;
  if (settings.remote) {
    // The receiver host's kernel is the one under test: its description, probe and
    // timing stand for the run's; the sender's go into the transport.
    remote = settings.remote->setup(sc, plan, modes);
    result.host = remote->host;
    result.timing = timing_comparability(result.host);
    result.probe = remote->probe;
  }

  // Decide once per mode whether it can run here.
  std::vector<const ModeDefinition*> runnable;
  for (const std::string& name : modes) {
    ModeResult& m = result.modes.emplace_back();
    m.mode = name;
    const ModeDefinition* def = find_mode(name);
    if (remote) {
      if (auto why = remote->unsupported.find(name); why != remote->unsupported.end()) {
        m.status = "unsupported";
        m.reason = why->second;
      }
    } else if (ModeSupport why = def->unsupported(sc, probe)) {
      m.status = "unsupported";
      m.reason = *why;
    } else if (plan.streamed && def->needs_whole_plan) {
      m.status = "unsupported";
      m.reason = fmt::format("it reads the whole plan, and this run streams its {} frames (run.plan: held holds "
                             "them, within run.max_memory_mb)",
                             plan.frame_count());
    }
    if (m.status == "ok") {
      if (remote) {
        if (auto caveat = remote->kernel_caveats.find(name); caveat != remote->kernel_caveats.end())
          m.kernel_caveat = caveat->second;
      } else if (def->kernel_caveat) {
        m.kernel_caveat = def->kernel_caveat().value_or("");
      }
      if (!m.kernel_caveat.empty()) result.warnings.push_back(fmt::format("{}: {}", name, m.kernel_caveat));
    }
    runnable.push_back(m.status == "ok" ? def : nullptr);
  }

  // From here on a stop ends the repetition under way, and what was measured is saved.
  stop.graceful();
  std::unique_ptr<Network> network = remote ? nullptr : make_network(sc);
  result.transport = remote ? remote->transport : network->describe();
  // Counts only: autolowat-model records its arrivals through a probe of its own, and
  // a ring buffer here would fill with events nobody reads.
  // (A remote receiver host loads its own.)
  std::optional<DataReadyProbe> data_ready;
  std::optional<NetSoftirqProbe> softirq;
  if (!remote) {
    data_ready.emplace(false);
    softirq.emplace();
  }
  ProgressReporter progress(ProgressReporter::style_for(stderr, settings.quiet));

  auto go_on = [&] { return !stop.requested() && outcome.receiver_lost.empty(); };
  for (uint32_t rep = 0; rep < sc.run.repetitions && go_on(); ++rep) {
    for (size_t i = 0; i < modes.size() && go_on(); ++i) {
      if (!runnable[i]) continue;
      ModeResult& m = result.modes[i];
      progress.begin(m.mode, rep + 1, sc.run.repetitions);
      try {
        m.repetitions.push_back(remote ? settings.remote->run_once(m.mode, plan, progress)
                                       : run_once(sc, plan, *network, *runnable[i], *data_ready, *softirq, progress));
        ModeRepetition& r = m.repetitions.back();
        if (rep > 0) r.timeline = {};  // the report draws the first; more only bloat run.json
        progress.finished(r.frames, r.frames ? double(r.counters.wakeups) / double(r.frames) : 0.0, r.integrity_ok);
      } catch (const ReceiverLost& e) {
        outcome.receiver_lost = e.what();
        progress.failed(e.what());
        break;
      } catch (const RunError& e) {
        if (stop.requested()) break;
        m.status = "failed";
        m.reason = fmt::format("repetition {}: {}", rep + 1, e.what());
        if (!m.kernel_caveat.empty()) m.reason += fmt::format(" (a known kernel defect may be why: {})", m.kernel_caveat);
        runnable[i] = nullptr;
        progress.failed(e.what());
      }
    }
  }

  outcome.interrupted = stop.requested();
  result.complete = !outcome.interrupted && outcome.receiver_lost.empty();
  if (!result.complete) mark_modes_not_run(result);
  if (!outcome.receiver_lost.empty()) {
    result.warnings.push_back(fmt::format("the receiver host was lost: {}: repetitions are missing", outcome.receiver_lost));
    outcome.any_failed = true;
  }
  result.provenance["ended_at"] = rfc3339_now();
  result.provenance["load_average"]["after"] = load_average();
  if (outcome.interrupted) result.warnings.push_back("interrupted: repetitions are missing");
  warn_on_segment_drift(sc, result);
  warn_on_steal(result);
  warn_on_schedule_not_kept(result);
  // On stderr, where a --json run shows them too; run.json keeps them.
  for (const std::string& w : result.warnings) fmt::print(stderr, "warning: {}\n", w);
  for (const ModeResult& m : result.modes) {
    if (m.status == "failed") outcome.any_failed = true;
    for (const ModeRepetition& r : m.repetitions) outcome.any_failed = outcome.any_failed || !r.integrity_ok;
  }
  return outcome;
}

}  // namespace rcvq
