#pragma once
#include <map>
#include <string>

namespace rcvq {

// How the gate treats one metric.
struct MetricPolicy {
  enum class Kind {
    Counter,  // deterministic per-frame count: medians compared with a tight tolerance
    Timing,   // noisy: needs repetitions, a Mann-Whitney U test and a minimum effect
    Report,   // shown, never fails
    Ignore,   // not shown
  } kind = Kind::Ignore;
  bool lower_is_better = true;
  // Counter: regression when the current median > baseline * (1 + tolerance) + slack
  // (mirrored when higher is better), the baseline being its least-merged repetition
  // (see gate.cpp). The slack keeps a 0 -> 0.01 change from counting as +inf%.
  double tolerance = 0.05;
  double slack = 0.02;
  // Timing: regression when p < alpha, the median moved the wrong way by at least
  // min_effect (relative), and both sides have at least min_repetitions samples.
  double alpha = 0.05;
  double min_effect = 0.10;
  size_t min_repetitions = 5;
};

struct GatePolicy {
  std::map<std::string, MetricPolicy> metrics;
  // Benchmarks whose name starts with a key take its metrics' policies over `metrics`;
  // of several matching keys that list a metric, the longest wins.
  std::map<std::string, std::map<std::string, MetricPolicy>> benchmarks;
  MetricPolicy fallback;             // metrics not listed
  bool missing_is_regression = true;  // a baseline benchmark/metric absent from current

  const MetricPolicy& of(const std::string& metric) const;
  const MetricPolicy& of(const std::string& benchmark, const std::string& metric) const;
};

// Built-in policy: the per-frame counts are Counter, CPU/latency/throughput and
// Google Benchmark's real/cpu time are Timing, the instrument's iperf3 throughput
// ratio (higher is better) and peak RSS are Counter with wider tolerances, its Gbit/s
// figures and the instrument/... benchmarks' own real/cpu time Report, everything
// else Ignore.
GatePolicy default_gate_policy();

// The defaults overridden by a YAML policy file (strict: unknown keys and bad values
// throw InputError naming file:line:column):
//   missing: fail | report
//   default: {kind: ignore}
//   metrics:
//     wakeups_per_frame: {kind: counter, tolerance: 0.02}
//     p99_us: {kind: timing, alpha: 0.01, min_effect: 0.2, min_repetitions: 8}
//     frames_per_s: {kind: timing, better: higher}
//   benchmarks:
//     "scenario/quickstart/": {p99_us: {kind: report}}
GatePolicy load_gate_policy(const std::string& path);

std::string to_string(MetricPolicy::Kind kind);

}  // namespace rcvq
