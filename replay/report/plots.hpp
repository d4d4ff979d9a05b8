#pragma once
#include <string>
#include <vector>

#include "report/run_data.hpp"

namespace rcvq {

struct Plot {
  std::string name;     // file stem: latency_by_percentile, ...
  std::string title;    // drawn inside the SVG
  std::string svg;      // empty when the run lacks the data
  std::string missing;  // why svg is empty
  std::string caption;  // the one caption the HTML page sets under the plot: what it shows, and its caveats
};

// Every plot of the report, in display order. Each series is a <g class="series"
// data-series="..."> so tests and scripts can find it.
std::vector<Plot> make_plots(const LoadedRun& run);

// A percentile p differs from the max only with at least 1/(1-p) samples: HdrHistogram
// takes the value whose count reaches ceil(p * n), which is the n-th (the max) while
// n * (1 - p) < 1. One warning per mode whose latency samples are too few for a
// percentile the report shows (p50, p99, p99.9); `samples` is each mode's n.
struct PercentileShown {
  const char* label;  // "p99.9"
  double inverse;     // 1/(1-p): the samples it needs
};
const std::vector<PercentileShown>& shown_percentiles();
std::vector<std::string> percentile_sample_warnings(const LoadedRun& run);

Plot latency_by_percentile_plot(const LoadedRun& run);
Plot wakeups_syscalls_plot(const LoadedRun& run);
// Per mode, the receiver thread's CPU per frame stacked under the network softirq time
// spent outside it: together the whole receive path (metric_specs.cpp).
Plot cpu_plot(const LoadedRun& run);
Plot segments_per_frame_plot(const LoadedRun& run);
Plot timeline_plot(const LoadedRun& run);

}  // namespace rcvq
