#include "results/run_result.hpp"

#include <algorithm>
#include <functional>

namespace rcvq {
namespace {

using json = nlohmann::json;

double per_frame(double total, uint64_t frames) { return frames ? total / double(frames) : 0.0; }

// A figure derived from two measurements exists only when both do.
template <typename Op>
Measured derived(const Measured& a, const Measured& b, Op op) {
  if (!a.value) return a;
  if (!b.value) return b;
  return Measured::of(op(*a.value, *b.value));
}
Measured difference(const Measured& a, const Measured& b) { return derived(a, b, std::minus<>()); }
Measured sum_of(const Measured& a, const Measured& b) { return derived(a, b, std::plus<>()); }

json count_json(const Measured& m) { return m.value ? json(uint64_t(*m.value)) : json(nullptr); }

json latency_json(const Histogram& h) {
  if (h.count() == 0) return nullptr;
  return {{"p50", h.value_at_percentile(50)},   {"p90", h.value_at_percentile(90)},
          {"p99", h.value_at_percentile(99)},   {"p999", h.value_at_percentile(99.9)},
          {"max", h.max()},                     {"min", h.min()},
          {"mean", h.mean()},                   {"stddev", h.stddev()},
          {"count", h.count()}};
}

// Per-frame view of everything a repetition (or a pool of them) counted.
struct Totals {
  uint64_t frames = 0, bytes = 0;
  ReceiverCounters counters;
  Measured data_ready = Measured::of(0), wakeup_edges = Measured::of(0), segments = Measured::of(0),
           cpu = Measured::of(0), cpu_rusage = Measured::of(0), net_softirq = Measured::of(0),
           ctx = Measured::of(0);
  double segments_planned = 0;
  Histogram latency, latency_from_send, send_lateness;
  int64_t frame_period_ns = 0;
  int64_t wall_ns = 0;
  bool integrity_ok = true, predicted = false;
  std::vector<std::string> integrity_details;
  std::string latency_unavailable;

  void add(const ModeRepetition& r) {
    frames += r.frames;
    bytes += r.bytes;
    counters.epoll_waits += r.counters.epoll_waits;
    counters.wakeups += r.counters.wakeups;
    counters.early_wakeups += r.counters.early_wakeups;
    counters.events += r.counters.events;
    counters.recv_calls += r.counters.recv_calls;
    counters.setsockopt_calls += r.counters.setsockopt_calls;
    counters.other_syscalls += r.counters.other_syscalls;
    for (auto [sum, part] : {std::pair{&data_ready, &r.kernel_data_ready},
                             {&wakeup_edges, &r.kernel_wakeup_edges},
                             {&segments, &r.segments_achieved},
                             {&cpu, &r.cpu_us},
                             {&cpu_rusage, &r.cpu_rusage_us},
                             {&net_softirq, &r.net_softirq_outside_receiver_us},
                             {&ctx, &r.ctx_switches}}) {
      if (sum->value && part->value) *sum->value += *part->value;
      else if (sum->value) *sum = *part;
    }
    segments_planned = r.segments_planned;
    latency.merge(r.latency);
    latency_from_send.merge(r.latency_from_send);
    send_lateness.merge(r.send_lateness);
    if (!r.latency_unavailable.empty()) latency_unavailable = r.latency_unavailable;
    frame_period_ns = r.frame_period_ns;
    wall_ns += r.wall_ns;
    integrity_ok = integrity_ok && r.integrity_ok;
    integrity_details.push_back(r.integrity_detail);
    predicted = predicted || r.predicted;
  }

  // Unknown (null) without a recorded send; a plan whose frames are all due at once has
  // no period to fall behind.
  json schedule_kept() const {
    if (send_lateness.count() == 0) return nullptr;
    return double(send_lateness.value_at_percentile(99)) <= kScheduleLatenessFraction * double(frame_period_ns) ||
           frame_period_ns == 0;
  }

  json to_json() const {
    json reasons = json::object();
    auto measured = [&](const char* key, const Measured& m) -> json {
      if (m.value) return per_frame(*m.value, frames);
      reasons[key] = m.reason;
      return nullptr;
    };
    json j = {
        {"frames", frames},
        {"bytes", bytes},
        {"wakeups_per_frame", per_frame(double(counters.wakeups), frames)},
        {"events_per_frame", per_frame(double(counters.events), frames)},
        {"early_wakeups_per_frame", per_frame(double(counters.early_wakeups), frames)},
        {"recv_calls_per_frame", per_frame(double(counters.recv_calls), frames)},
        {"setsockopt_per_frame", per_frame(double(counters.setsockopt_calls), frames)},
        {"epoll_waits_per_frame", per_frame(double(counters.epoll_waits), frames)},
        {"syscalls_per_frame", per_frame(double(counters.syscalls()), frames)},
        {"segments_per_frame_planned", segments_planned},
        {"latency_ns", latency_json(latency)},
        {"latency_from_send_ns", latency_json(latency_from_send)},
        {"send_lateness_ns", latency_json(send_lateness)},
        {"frame_period_ns", frame_period_ns},
        {"schedule_kept", schedule_kept()},
        {"integrity", integrity_ok ? "ok" : "mismatch"},
        {"predicted", predicted},
        {"wall_s", double(wall_ns) / 1e9},
        {"frames_per_s", wall_ns > 0 ? double(frames) * 1e9 / double(wall_ns) : 0.0},
        {"counts",
         {{"epoll_waits", counters.epoll_waits},
          {"wakeups", counters.wakeups},
          {"early_wakeups", counters.early_wakeups},
          {"events", counters.events},
          {"recv_calls", counters.recv_calls},
          {"setsockopt_calls", counters.setsockopt_calls},
          {"other_syscalls", counters.other_syscalls}}},
    };
    if (send_lateness.count() == 0) reasons["send_lateness_ns"] = "the sender recorded no measured send";
    if (latency.count() == 0 && !latency_unavailable.empty())
      reasons["latency_ns"] = reasons["latency_from_send_ns"] = latency_unavailable;
    j["kernel_data_ready_per_frame"] = measured("kernel_data_ready_per_frame", data_ready);
    j["kernel_wakeup_edges_per_frame"] = measured("kernel_wakeup_edges_per_frame", wakeup_edges);
    j["coalesced_notifications_per_frame"] =
        measured("coalesced_notifications_per_frame", difference(data_ready, wakeup_edges));
    j["counts"]["kernel_data_ready"] = count_json(data_ready);
    j["counts"]["kernel_wakeup_edges"] = count_json(wakeup_edges);
    j["segments_per_frame_achieved"] = measured("segments_per_frame_achieved", segments);
    j["cpu_us_per_frame"] = measured("cpu_us_per_frame", cpu);
    j["cpu_rusage_us_per_frame"] = measured("cpu_rusage_us_per_frame", cpu_rusage);
    j["net_softirq_outside_receiver_us_per_frame"] =
        measured("net_softirq_outside_receiver_us_per_frame", net_softirq);
    j["receive_path_cpu_us_per_frame"] = measured("receive_path_cpu_us_per_frame", sum_of(cpu, net_softirq));
    j["ctx_switches_per_frame"] = measured("ctx_switches_per_frame", ctx);
    if (!integrity_ok) {
      json details = json::array();
      for (const auto& d : integrity_details) details.push_back(d);
      j["integrity_detail"] = details;
    }
    j["unavailable"] = reasons;
    return j;
  }
};

json spread(const std::vector<double>& values) {
  if (values.empty()) return nullptr;
  std::vector<double> v = values;
  std::sort(v.begin(), v.end());
  const double median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return {{"min", v.front()}, {"median", median}, {"max", v.back()}, {"n", v.size()}};
}

json timeline_json(const FrameTimeline& t) {
  json frames = json::array(), segments = json::array();
  for (const FrameTimeline::Frame& f : t.frames)
    frames.push_back({{"index", f.index}, {"due_ns", f.due_ns}, {"done_ns", f.done_ns}});
  for (const FrameTimeline::Segment& s : t.segments)
    segments.push_back({{"frame", s.frame}, {"bytes", s.bytes}, {"planned_ns", s.planned_ns}, {"sent_ns", s.sent_ns}});
  return {{"connection", 0}, {"frames", frames}, {"segments", segments}, {"wakeups_ns", t.wakeup_ns}};
}

// Readers that look at one mode's metrics alone must still see that its times are
// not the host's.
void mark_timing(json& metrics, const TimingComparability& timing) {
  metrics["timing_comparable"] = timing.comparable;
  if (timing.comparable) return;
  metrics["timing_reason"] = timing.reason;
  metrics["timing_metrics"] = timing_metric_keys();
}

}  // namespace

json repetition_json(const ModeRepetition& rep) {
  Totals t;
  t.add(rep);
  json j = t.to_json();
  j["extra"] = rep.extra;
  if (!rep.timeline.empty()) j["timeline"] = timeline_json(rep.timeline);
  return j;
}

json aggregate_metrics(const ModeResult& mode) {
  Totals pooled;
  for (const ModeRepetition& r : mode.repetitions) pooled.add(r);
  json j = pooled.to_json();
  // Spread of each per-frame metric across repetitions: the noise a comparison must beat.
  json spreads = json::object();
  std::vector<json> reps;
  for (const ModeRepetition& r : mode.repetitions) reps.push_back(repetition_json(r));
  for (const char* key : {"wakeups_per_frame", "events_per_frame", "early_wakeups_per_frame", "recv_calls_per_frame",
                          "setsockopt_per_frame", "syscalls_per_frame", "kernel_data_ready_per_frame",
                          "kernel_wakeup_edges_per_frame", "coalesced_notifications_per_frame",
                          "segments_per_frame_achieved", "cpu_us_per_frame", "cpu_rusage_us_per_frame",
                          "net_softirq_outside_receiver_us_per_frame", "receive_path_cpu_us_per_frame",
                          "ctx_switches_per_frame", "frames_per_s"}) {
    std::vector<double> values;
    for (const json& r : reps)
      if (r[key].is_number()) values.push_back(r[key].get<double>());
    spreads[key] = spread(values);
  }
  for (const char* p : {"p50", "p99", "p999"}) {
    std::vector<double> values;
    for (const json& r : reps)
      if (r["latency_ns"].is_object()) values.push_back(r["latency_ns"][p].get<double>());
    spreads[std::string("latency_") + p + "_ns"] = spread(values);
  }
  j["spread"] = spreads;
  return j;
}

json to_json(const RunResult& run) {
  json modes = json::object();
  for (const ModeResult& m : run.modes) {
    json mj = {{"status", m.status}, {"reason", m.reason}};
    if (!m.kernel_caveat.empty()) mj["kernel_caveat"] = m.kernel_caveat;
    json reps = json::array();
    for (const ModeRepetition& r : m.repetitions) reps.push_back(repetition_json(r));
    mj["repetitions"] = reps;
    mj["metrics"] = m.repetitions.empty() ? json(nullptr) : aggregate_metrics(m);
    if (mj["metrics"].is_object()) mark_timing(mj["metrics"], run.timing);
    modes[m.mode] = mj;
  }
  json j = {{"format", "rcvqbench-run/1"},
            {"complete", run.complete},
            {"started_utc", run.started_utc},
            {"scenario", run.scenario},
            {"host", run.host},
            {"probe", run.probe},
            {"plan", run.plan},
            {"transport", run.transport},
            {"pinning", run.pinning},
            {"provenance", run.provenance},
            {"warnings", run.warnings},
            {"modes", modes}};
  j["timing_comparable"] = run.timing.comparable;
  if (!run.timing.comparable) j["timing_reason"] = run.timing.reason;
  return j;
}

}  // namespace rcvq
