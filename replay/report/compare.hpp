#pragma once
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kernels/index.hpp"
#include "report/metric_specs.hpp"
#include "report/run_data.hpp"

namespace rcvq {

// Whether B differs from A by more than the repetitions' noise. Times taken on
// different clocks (a TCG guest against the host) are not comparable at all, whatever
// their noise.
enum class NoiseVerdict { kOutside, kWithin, kUnknown, kNotComparable };

// How the noise was judged:
// - both sides have at least kNoiseTestRepetitions repetitions: the gate's two-sided
//   Mann-Whitney U test (gate/mann_whitney.hpp) over the repetitions' values, outside
//   the noise when p < kNoiseTestAlpha (the gate's timing defaults, gate/policy.hpp);
// - both sides have 2 or more: outside when the min..max ranges do not overlap;
// - fewer: unknown.
enum class NoiseTest { kNone, kMannWhitney, kRanges };

struct NoiseJudgement {
  NoiseVerdict verdict = NoiseVerdict::kUnknown;
  NoiseTest test = NoiseTest::kNone;
  std::optional<double> p_value;  // kMannWhitney only
  bool exact = false;             // the exact U distribution, not the normal approximation
  std::string why_unknown;
};

extern const size_t kNoiseTestRepetitions;
extern const double kNoiseTestAlpha;

NoiseJudgement judge_noise(const std::vector<double>& a, const std::vector<double>& b);

// One metric's value in each repetition of a mode (scaled like the metric), in order;
// repetitions without it are skipped.
std::vector<double> repetition_values(const nlohmann::json& mode, const MetricSpec& spec);

struct MetricChange {
  std::string mode;
  const MetricSpec* spec = nullptr;
  std::optional<double> a, b;
  std::optional<Spread> a_spread, b_spread;
  std::vector<double> a_samples, b_samples;  // each repetition's value
  NoiseVerdict verdict = NoiseVerdict::kUnknown;
  NoiseTest test = NoiseTest::kNone;
  std::optional<double> p_value;
  bool exact = false;
  // Why there is no judgement (too few repetitions, a side did not measure it), or for
  // kNotComparable the verdict itself: "not comparable (tcg)".
  std::string why_unknown;

  std::optional<double> ratio() const;  // b / a
  // Outside the noise in the direction the metric calls worse / better.
  bool worse() const;
  bool better() const;
};

// Every metric of every mode that either run measured, A then B.
std::vector<MetricChange> compare_runs(const LoadedRun& a, const LoadedRun& b);
// Scenario, kernel and plan differences worth knowing before reading the numbers.
std::vector<std::string> context_differences(const LoadedRun& a, const LoadedRun& b);
// Modes that produced metrics in A but failed in B: worse whatever the numbers say.
std::vector<std::string> modes_failed_in_b(const LoadedRun& a, const LoadedRun& b);

// The exit code `compare` returns, like the gate's: kExitOk when nothing got worse,
// kCompareExitWorse when a metric is worse beyond the noise or a mode that ran in A
// failed in B (bad input: kExitBadInput).
inline constexpr int kCompareExitWorse = 1;
int compare_exit_code(const LoadedRun& a, const LoadedRun& b);

void print_run_comparison(std::ostream& out, const LoadedRun& a, const LoadedRun& b);
// The same comparison as a JSON document (format rcvqbench-compare/1).
nlohmann::json run_comparison_json(const LoadedRun& a, const LoadedRun& b);
// A multi-kernel run: every kernel against the first one that wrote a run.json.
// Returns the exit code: the worst of the kernels' comparisons.
int print_kernel_matrix_comparison(std::ostream& out, const KernelMatrix& matrix);
nlohmann::json kernel_matrix_comparison_json(const KernelMatrix& matrix);

// `rcvqbench compare A B [--json]`, or `compare DIR` with run_b empty for a multi-kernel run.
int compare_command(const std::string& run_a, const std::string& run_b, bool json_out = false);

}  // namespace rcvq
