#include "report/metric_specs.hpp"

#include "results/timing.hpp"

namespace rcvq {

using json = nlohmann::json;

const std::vector<MetricSpec>& report_metrics() {
  static const std::vector<MetricSpec> specs = {
      {"wakeups/frame", "", "/wakeups_per_frame", "wakeups_per_frame"},
      {"socket events/frame", "", "/events_per_frame", "events_per_frame"},
      {"early wakeups/frame", "", "/early_wakeups_per_frame", "early_wakeups_per_frame"},
      {"syscalls/frame", "", "/syscalls_per_frame", "syscalls_per_frame"},
      {"recv calls/frame", "", "/recv_calls_per_frame", "recv_calls_per_frame"},
      {"setsockopt/frame", "", "/setsockopt_per_frame", "setsockopt_per_frame"},
      {"kernel data-ready/frame", "", "/kernel_data_ready_per_frame", "kernel_data_ready_per_frame"},
      {"kernel wakeup edges/frame", "", "/kernel_wakeup_edges_per_frame", "kernel_wakeup_edges_per_frame"},
      {"coalesced notifications/frame", "", "/coalesced_notifications_per_frame",
       "coalesced_notifications_per_frame"},
      {"segments/frame achieved", "", "/segments_per_frame_achieved", "segments_per_frame_achieved"},
      {"CPU/frame (task-clock)", "µs", "/cpu_us_per_frame", "cpu_us_per_frame", 1, false, 1},
      {"CPU/frame (rusage)", "µs", "/cpu_rusage_us_per_frame", "cpu_rusage_us_per_frame", 1, false, 1},
      {"net softirq outside receiver/frame", "µs", "/net_softirq_outside_receiver_us_per_frame",
       "net_softirq_outside_receiver_us_per_frame", 1, false, 1},
      {"receive path CPU/frame", "µs", "/receive_path_cpu_us_per_frame", "receive_path_cpu_us_per_frame", 1, false,
       1},
      {"context switches/frame", "", "/ctx_switches_per_frame", "ctx_switches_per_frame"},
      {"latency p50", "µs", "/latency_ns/p50", "latency_p50_ns", 1e-3, false, 1},
      {"latency p99", "µs", "/latency_ns/p99", "latency_p99_ns", 1e-3, false, 1},
      {"latency p99.9", "µs", "/latency_ns/p999", "latency_p999_ns", 1e-3, false, 1},
      {"throughput", "frames/s", "/frames_per_s", "frames_per_s", 1, true, 1},
  };
  return specs;
}

bool is_timing(const MetricSpec& spec) { return is_timing_metric(spec.pointer); }

std::optional<double> metric_value(const json& metrics, const MetricSpec& spec) {
  const std::optional<double> v = number_at(metrics, spec.pointer);
  if (!v) return std::nullopt;
  return *v * spec.scale;
}

std::optional<Spread> metric_spread(const json& metrics, const MetricSpec& spec) {
  if (spec.spread.empty() || !metrics.is_object() || !metrics.contains("spread")) return std::nullopt;
  const std::string base = "/spread/" + spec.spread;
  const auto lo = number_at(metrics, base + "/min"), mid = number_at(metrics, base + "/median"),
             hi = number_at(metrics, base + "/max"), n = number_at(metrics, base + "/n");
  if (!lo || !mid || !hi) return std::nullopt;
  return Spread{*lo * spec.scale, *mid * spec.scale, *hi * spec.scale, n ? int(*n) : 0};
}

std::string metric_unavailable_reason(const json& metrics, const MetricSpec& spec) {
  const std::string key = spec.pointer.substr(1);
  if (metrics.is_object() && metrics.contains("unavailable") && metrics["unavailable"].contains(key) &&
      metrics["unavailable"][key].is_string())
    return metrics["unavailable"][key].get<std::string>();
  return "";
}

}  // namespace rcvq
