#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "gate/bench_results.hpp"
#include "gate/policy.hpp"

namespace rcvq {

enum class GateVerdict {
  Ok,           // within tolerance / not a significant change
  Regression,   // fails the gate
  Improved,     // significantly better: the baseline may want a refresh
  Unsupported,  // no value on one side; reported, not compared
  Missing,      // in the baseline, not in the current run (a regression unless the policy says report)
  New,          // in the current run only
  NotCompared,  // too few repetitions for the timing test, or a failed baseline
  Reported,     // policy `report`: shown only
};
std::string to_string(GateVerdict verdict);

struct GateRow {
  std::string benchmark;
  std::string metric;  // "-" for a row about the whole benchmark
  std::string policy;  // e.g. "counter ±5%", "timing a=0.05"
  std::string baseline, current, change;
  GateVerdict verdict = GateVerdict::Ok;
  bool fails = false;
  std::string note;  // p-value, reason, ...
};

struct GateReport {
  std::vector<GateRow> rows;
  bool failed() const;  // a regression
  size_t count(GateVerdict verdict) const;
  size_t compared() const;  // rows judged: ok, regression or improved
  // No regression, and something was judged unless `allow_empty`: a gate whose every
  // row was unsupported, missing, new or not compared has checked nothing.
  bool passes(bool allow_empty) const;
};

GateReport compare_benchmark_files(const BenchmarkFile& baseline, const BenchmarkFile& current,
                                   const GatePolicy& policy);

// Both hosts, the table, and a one-line summary (with the verdict of passes(allow_empty)).
void print_gate_report(std::ostream& out, const GateReport& report, const BenchmarkFile& baseline,
                       const BenchmarkFile& current, bool allow_empty = false);

struct GateOptions {
  std::string baseline_path;
  std::string current_path;
  std::string policy_path;  // empty: built-in policy
  bool allow_empty = false;  // pass even when nothing could be compared
};

// `rcvqbench gate`: loads, compares, prints; returns 0 when it passes, 1 on a regression
// or when nothing was compared (unless allow_empty). Bad input throws InputError naming
// the file.
int run_gate(const GateOptions& options, std::ostream& out);

}  // namespace rcvq
