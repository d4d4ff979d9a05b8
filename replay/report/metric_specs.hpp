#pragma once
#include <optional>
#include <string>
#include <vector>

#include "report/run_data.hpp"

namespace rcvq {

// A per-mode number the report and compare show, where it lives in run.json's
// metrics and where its spread across repetitions lives.
struct MetricSpec {
  std::string label;     // "wakeups/frame"
  std::string unit;      // "" or "µs", "frames/s"
  std::string pointer;   // JSON pointer into a mode's metrics
  std::string spread;    // key under metrics.spread, or "" when none is kept
  double scale = 1;      // multiply run.json's value by this (ns -> µs)
  bool higher_is_better = false;
  int precision = 2;
};

const std::vector<MetricSpec>& report_metrics();
// A time or a rate of time (CPU, latency, throughput): not comparable across clocks.
bool is_timing(const MetricSpec& spec);

// min / median / max across repetitions, scaled like the metric.
struct Spread {
  double min = 0, median = 0, max = 0;
  int n = 0;
};

std::optional<double> metric_value(const nlohmann::json& metrics, const MetricSpec& spec);
std::optional<Spread> metric_spread(const nlohmann::json& metrics, const MetricSpec& spec);
// Why the metric is null, when run.json says ("" otherwise).
std::string metric_unavailable_reason(const nlohmann::json& metrics, const MetricSpec& spec);

}  // namespace rcvq
