#include "run/runner.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <pthread.h>
#include <sched.h>

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
#include "probes/data_ready.hpp"
#include "probes/host_probe.hpp"
#include "probes/net_softirq.hpp"
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
  std::map<uint32_t, uint64_t> frames_by_segments;
  for (size_t f = plan.warmup_frames; f < plan.frames.size(); ++f)
    ++frames_by_segments[plan.frames[f].last_segment - plan.frames[f].first_segment + 1];
  json bins = json::array();
  for (const auto& [segments, frames] : frames_by_segments) bins.push_back({{"segments", segments}, {"frames", frames}});
  return bins;
}

json plan_summary(const Scenario& sc, const ReplayPlan& plan) {
  return {{"source", plan.source_description},
          {"framing", sc.framing.name},
          {"stream_bytes", plan.stream.size()},
          {"frames", plan.frames.size()},
          {"warmup_frames", plan.warmup_frames},
          {"segments", plan.segments.size()},
          {"segments_per_frame", plan.planned_segments_per_frame()},
          {"segments_per_frame_histogram", segments_per_frame_histogram(plan)},
          {"duration_s", double(plan.duration_ns()) / 1e9},
          {"cut", to_string(sc.segmentation.kind)},
          {"connections", sc.receiver.connections}};
}

// Before anything runs: a CPU the process may not use would fail every repetition.
// A remote receiver's CPU is the other host's to check.
void check_pinning(const Scenario& sc, bool receiver_here) {
  const std::vector<int> allowed = allowed_cpus();
  for (auto [key, cpu] : {std::pair{"receiver.cpu", receiver_here ? sc.receiver.cpu : std::nullopt},
                          {"sender.cpu", sc.sender.cpu}})
    if (cpu && std::find(allowed.begin(), allowed.end(), int(*cpu)) == allowed.end())
      throw InputError(fmt::format("{}: {} {} is not a CPU this process may run on (allowed: {})", sc.path, key,
                                   *cpu, fmt::join(allowed, ",")));
}

json pinning_json(const Scenario& sc) {
  auto cpu = [](std::optional<uint32_t> c) { return c ? json(*c) : json(nullptr); };
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

ModeRepetition run_once(const Scenario& sc, const ReplayPlan& plan, Network& network, const ModeDefinition& def,
                        DataReadyProbe& data_ready, NetSoftirqProbe& softirq, ProgressReporter& progress) {
  StopSignal& stop = StopSignal::instance();
  std::unique_ptr<ReceiverMode> mode = def.make(sc);
  ReceiverHarness harness(sc, network, *mode, data_ready);
  harness.measure_softirq_with(&softirq);
  std::unique_ptr<Replayer> replayer = network.make_replayer(sc);
  replayer->connect(sc.receiver.connections);
  harness.accept_connections(sc.receiver.connections);

  const int64_t t0 = monotonic_ns() + kStartDelayNs;
  const int64_t deadline = t0 + plan.duration_ns() + int64_t(sc.run.timeout_s * 1e9);
  progress.schedule(plan.frames.size(), t0, plan.duration_ns());
  harness.publish_frames_to(&progress.frames_received());
  std::vector<int> receiver_cpus;
  SenderThread sender(sc, *replayer, plan, t0, stop);
  std::exception_ptr receiver_error;
  // The receiver loop gets its own thread so its rusage covers nothing else.
  std::thread receiver([&] {
    try {
      apply_realtime_priority(sc.receiver.realtime_priority, "receiver");
      receiver_cpus = pin_calling_thread(sc.receiver.cpu, "receiver");
      harness.receive(plan, deadline, stop.fd());
    } catch (...) {
      receiver_error = std::current_exception();
    }
  });
  receiver.join();
  if (receiver_error) {
    stop.request();  // unblock the sender; the run is over anyway
    sender.join();
    std::rethrow_exception(receiver_error);
  }
  sender.join();
  if (sender.error) std::rethrow_exception(sender.error);
  if (harness.stopped()) throw RunError("interrupted");
  if (harness.timed_out())
    throw RunError(fmt::format("timed out after {} s waiting for frames", sc.run.timeout_s));
  ModeRepetition rep = harness.measurements(plan, t0, sender.sent_ns);
  rep.extra["sender"] = replayer->stats();
  rep.extra["affinity"] = {{"receiver", receiver_cpus}, {"sender", sender.cpus}};
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

  const ReplayPlan plan = build_plan(sc, load_source(sc));
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
