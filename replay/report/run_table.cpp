#include "report/run_table.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <ostream>

#include "report/verdict.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;

// Appended to a latency taken from a schedule the sender did not keep.
constexpr const char* kScheduleMark = "!";

std::string cell(const json& v, int precision = 2) {
  if (!v.is_number()) return "n/a";
  return fmt::format("{:.{}f}", v.get<double>(), precision);
}

std::string ratio(const json& v, const json& base) {
  if (!v.is_number() || !base.is_number() || base.get<double>() == 0) return "";
  return fmt::format("({:.2f}x)", v.get<double>() / base.get<double>());
}

json latency_us(const json& m, const char* p) {
  if (!m.is_object() || !m["latency_ns"].is_object()) return nullptr;
  return m["latency_ns"][p].get<double>() / 1000.0;
}

json of(const json& metrics, const char* key) { return metrics.is_object() ? metrics[key] : json(); }

}  // namespace

void print_run_table(std::ostream& out, const RunResult& run) {
  json base;
  for (const ModeResult& m : run.modes)
    if (m.mode == "baseline" && !m.repetitions.empty()) base = aggregate_metrics(m);
  fmt::print(out, "{:<18} {:>16} {:>16} {:>16} {:>16} {:>16} {:>17} {:>17} {:>16}  {}\n", "mode", "wakeups/frame",
             "events/frame", "syscalls/frame", "cpu_us/frame", "path_us/frame", "p50_us", "p99_us", "segs/frame",
             "integrity");
  bool any_predicted = false, any_schedule_missed = false;
  for (const ModeResult& m : run.modes) {
    if (m.repetitions.empty()) {
      fmt::print(out, "{:<18} {}\n", m.mode, m.status);
      continue;
    }
    const json a = aggregate_metrics(m);
    const bool schedule_missed = a["schedule_kept"] == false;
    any_schedule_missed = any_schedule_missed || schedule_missed;
    auto col = [&](const char* key) { return fmt::format("{} {}", cell(a[key]), ratio(a[key], of(base, key))); };
    auto time_col = [&](const json& v, const json& b, int precision, bool from_schedule) {
      const bool tcg = !run.timing.comparable && v.is_number();
      return fmt::format("{}{}{} {}", cell(v, precision), tcg ? kTimingMark : "",
                         from_schedule && schedule_missed ? kScheduleMark : "", ratio(v, b));
    };
    const bool predicted = a["predicted"].get<bool>();
    any_predicted = any_predicted || predicted;
    fmt::print(out, "{:<18} {:>16} {:>16} {:>16} {:>16} {:>16} {:>17} {:>17} {:>16}  {}{}\n",
               m.mode + (predicted ? " *" : ""), col("wakeups_per_frame"), col("events_per_frame"),
               col("syscalls_per_frame"),
               time_col(a["cpu_us_per_frame"], of(base, "cpu_us_per_frame"), 2, false),
               time_col(a["receive_path_cpu_us_per_frame"], of(base, "receive_path_cpu_us_per_frame"), 2, false),
               time_col(latency_us(a, "p50"), latency_us(base, "p50"), 1, true),
               time_col(latency_us(a, "p99"), latency_us(base, "p99"), 1, true),
               fmt::format("{}/{}", cell(a["segments_per_frame_achieved"]), cell(a["segments_per_frame_planned"])),
               a["integrity"].get<std::string>(), m.status == "ok" ? "" : " (" + m.status + ")");
  }
  if (any_predicted) fmt::print(out, "* predicted by the userspace AutoLOWAT model, not measured on this kernel\n");
  if (!run.timing.comparable) fmt::print(out, "{} times not comparable with the host: {}\n", kTimingMark, run.timing.reason);
  if (any_schedule_missed)
    fmt::print(out,
               "{} latency from a schedule the sender did not keep: its p99 lateness exceeded {} of the frame "
               "period (run.json send_lateness_ns)\n",
               kScheduleMark, kScheduleLatenessFraction);
  fmt::print(out, "(ratios are to baseline; wakeups are epoll_wait returns, events the socket readiness reports "
                  "they delivered; cpu_us is the receiver thread's task-clock, path_us adds the network softirq "
                  "time spent outside it; segs/frame is achieved/planned; latency from the scheduled send of each "
                  "frame's last byte)\n");
  for (const ModeResult& m : run.modes)
    if (!m.reason.empty()) fmt::print(out, "{} {}: {}\n", m.mode, m.status, m.reason);
  print_run_verdict(out, LoadedRun{"", "", to_json(run), {}});
}

}  // namespace rcvq
