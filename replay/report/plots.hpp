#pragma once
#include <string>
#include <vector>

#include "report/run_data.hpp"

namespace rcvq {

struct Plot {
  std::string name;     // file stem: latency_by_percentile, ...
  std::string title;
  std::string svg;      // empty when the run lacks the data
  std::string missing;  // why svg is empty
};

// Every plot of the report, in display order. Each series is a <g class="series"
// data-series="..."> so tests and scripts can find it.
std::vector<Plot> make_plots(const LoadedRun& run);

Plot latency_by_percentile_plot(const LoadedRun& run);
Plot wakeups_syscalls_plot(const LoadedRun& run);
Plot segments_per_frame_plot(const LoadedRun& run);
Plot timeline_plot(const LoadedRun& run);

}  // namespace rcvq
