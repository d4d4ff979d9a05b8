#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "report/run_data.hpp"

namespace rcvq {

// What a run says at a glance: per mode, what it saves against baseline (wakeups,
// syscalls, receiver-thread and whole-receive-path CPU per frame) and at what latency
// cost (p50 / p99), each change judged against the repetitions' noise as `compare`
// judges it (report/compare.hpp).
struct RunVerdict {
  // Set when frames already arrive in one segment: no receiver mode can save anything.
  std::string nothing_to_save;
  std::vector<std::string> modes;  // one sentence per mode other than baseline
  std::string missing;             // why there is no per-mode verdict (no baseline, ...)

  std::vector<std::string> lines() const;
};

// Frames count as arriving in one segment when baseline's achieved segments per frame
// (the planned ones when the kernel could not count them) is below this: 1.00 at the
// two decimals the report prints.
inline constexpr double kOneSegmentPerFrame = 1.005;

RunVerdict run_verdict(const LoadedRun& run);
// The verdict under a "verdict" heading, for the run table and the text report.
void print_run_verdict(std::ostream& out, const LoadedRun& run);

}  // namespace rcvq
