#pragma once
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "kernels/index.hpp"
#include "report/metric_specs.hpp"
#include "report/run_data.hpp"

namespace rcvq {

// Whether B differs from A by more than the repetitions' noise: the min..max ranges
// of the two runs' repetitions do not overlap. Times taken on different clocks (a TCG
// guest against the host) are not comparable at all, whatever their noise.
enum class NoiseVerdict { kOutside, kWithin, kUnknown, kNotComparable };

struct MetricChange {
  std::string mode;
  const MetricSpec* spec = nullptr;
  std::optional<double> a, b;
  std::optional<Spread> a_spread, b_spread;
  NoiseVerdict verdict = NoiseVerdict::kUnknown;
  std::string why_unknown;  // or, for kNotComparable, the verdict: "not comparable (tcg)"

  std::optional<double> ratio() const;  // b / a
};

NoiseVerdict judge_noise(const std::optional<Spread>& a, const std::optional<Spread>& b, std::string* why);

// Every metric of every mode that either run measured, A then B.
std::vector<MetricChange> compare_runs(const LoadedRun& a, const LoadedRun& b);
// Scenario, kernel and plan differences worth knowing before reading the numbers.
std::vector<std::string> context_differences(const LoadedRun& a, const LoadedRun& b);

void print_run_comparison(std::ostream& out, const LoadedRun& a, const LoadedRun& b);
// A multi-kernel run: every kernel against the first one that wrote a run.json.
void print_kernel_matrix_comparison(std::ostream& out, const KernelMatrix& matrix);
// `rcvqbench compare A B`, or `compare DIR` with run_b empty for a multi-kernel run.
int compare_command(const std::string& run_a, const std::string& run_b);

}  // namespace rcvq
