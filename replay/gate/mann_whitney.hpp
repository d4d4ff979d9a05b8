#pragma once
#include <span>

namespace rcvq {

// Two-sided Mann-Whitney U test of whether samples x and y come from the same
// distribution. Timing metrics are skewed and outlier-prone, so the gate compares
// ranks rather than means.
enum class MannWhitneyMethod {
  Auto,        // Exact when there are no ties and both samples are small, else Asymptotic
  Exact,       // the permutation distribution of U (ties make it invalid: rejected)
  Asymptotic,  // normal approximation with tie and continuity corrections
};

struct MannWhitneyResult {
  double u_x = 0;      // U statistic of x: pairs (x_i, y_j) with x_i > y_j, ties counting 1/2
  double p_value = 1;  // two-sided
  bool exact = false;  // which method produced p_value
  bool ties = false;
};

// Same conventions as scipy.stats.mannwhitneyu(x, y, alternative="two-sided",
// use_continuity=True). Throws std::invalid_argument for an empty sample or for
// Exact with ties.
MannWhitneyResult mann_whitney_u(std::span<const double> x, std::span<const double> y,
                                 MannWhitneyMethod method = MannWhitneyMethod::Auto);

// Largest n1 + n2 for which Auto picks the exact distribution (counts stay exact in
// a double up to C(50, 25)).
inline constexpr size_t kMannWhitneyExactLimit = 50;

}  // namespace rcvq
