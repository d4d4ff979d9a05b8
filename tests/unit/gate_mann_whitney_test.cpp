// Mann-Whitney U against values worked out by hand (and matching scipy's documentation).
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "gate/mann_whitney.hpp"

namespace rcvq {
namespace {

// scipy.stats.mannwhitneyu's documented example: ages of male and female staff.
const std::vector<double> kMales{19, 22, 16, 29, 24};
const std::vector<double> kFemales{20, 11, 17, 12};

TEST(GateMannWhitney, ExactMatchesScipyExample) {
  // U1 = 17 of 20 pairs; P(U >= 17) = P(U <= 3) = (1 + 1 + 2 + 3) / C(9,4) = 7/126,
  // two-sided 14/126. scipy prints statistic=17.0, pvalue=0.1111111111111111.
  const MannWhitneyResult r = mann_whitney_u(kMales, kFemales, MannWhitneyMethod::Exact);
  EXPECT_DOUBLE_EQ(r.u_x, 17.0);
  EXPECT_NEAR(r.p_value, 14.0 / 126.0, 1e-15);
  EXPECT_TRUE(r.exact);
  EXPECT_FALSE(r.ties);
}

TEST(GateMannWhitney, AsymptoticMatchesScipyExample) {
  // z = (17 - 10 - 0.5) / sqrt(4*5*10/12); scipy: pvalue=0.11134688653314041.
  const MannWhitneyResult r = mann_whitney_u(kMales, kFemales, MannWhitneyMethod::Asymptotic);
  EXPECT_DOUBLE_EQ(r.u_x, 17.0);
  EXPECT_NEAR(r.p_value, 0.11134688653314041, 1e-12);
  EXPECT_FALSE(r.exact);
}

TEST(GateMannWhitney, AutoPicksExactWithoutTies) {
  const MannWhitneyResult r = mann_whitney_u(kMales, kFemales);
  EXPECT_TRUE(r.exact);
  EXPECT_NEAR(r.p_value, 14.0 / 126.0, 1e-15);
}

TEST(GateMannWhitney, SwappingSamplesMirrorsU) {
  const MannWhitneyResult r = mann_whitney_u(kFemales, kMales);
  EXPECT_DOUBLE_EQ(r.u_x, 3.0);  // 20 - 17
  EXPECT_NEAR(r.p_value, 14.0 / 126.0, 1e-15);
}

TEST(GateMannWhitney, CompleteSeparationOfFiveAndFive) {
  // Only 1 of C(10,5) = 252 arrangements puts every x above every y: p = 2/252.
  const std::vector<double> slow{110, 111, 112, 113, 114}, fast{100, 101, 102, 103, 104};
  const MannWhitneyResult r = mann_whitney_u(slow, fast);
  EXPECT_DOUBLE_EQ(r.u_x, 25.0);
  EXPECT_NEAR(r.p_value, 2.0 / 252.0, 1e-15);
  // Three per side can never reach 0.05: the smallest two-sided p is 2/20.
  const MannWhitneyResult small = mann_whitney_u(std::vector<double>{4, 5, 6}, std::vector<double>{1, 2, 3});
  EXPECT_NEAR(small.p_value, 0.1, 1e-15);
}

TEST(GateMannWhitney, TieCorrectedNormalApproximation) {
  // Pooled ranks: 1 | 2,2,2 -> 3 | 3,3 -> 5.5 | 4 -> 7 | 5 -> 8. R_x = 1+3+3+5.5 = 12.5,
  // U_x = 12.5 - 10 = 2.5, U_y = 13.5. Ties: (27-3) + (8-2) = 30.
  // var = 16/12 * (9 - 30/56) = 11.2857142857; z = (13.5 - 8 - 0.5)/sqrt(var) = 1.48835139;
  // p = 2 * Q(z) = 0.136658248 (erfc by hand-checked table: Q(1.488) ~ 0.06833).
  const std::vector<double> x{1, 2, 2, 3}, y{2, 3, 4, 5};
  const MannWhitneyResult r = mann_whitney_u(x, y);
  EXPECT_DOUBLE_EQ(r.u_x, 2.5);
  EXPECT_TRUE(r.ties);
  EXPECT_FALSE(r.exact);
  EXPECT_NEAR(r.p_value, 0.13665824773814753, 1e-9);
  EXPECT_THROW(mann_whitney_u(x, y, MannWhitneyMethod::Exact), std::invalid_argument);
}

TEST(GateMannWhitney, IdenticalConstantSamplesGiveNoEvidence) {
  const std::vector<double> same{9, 9, 9, 9, 9};
  const MannWhitneyResult r = mann_whitney_u(same, same);
  EXPECT_DOUBLE_EQ(r.u_x, 12.5);
  EXPECT_DOUBLE_EQ(r.p_value, 1.0);
}

TEST(GateMannWhitney, LargerSamplesUseTheNormalApproximation) {
  // 30 + 30 values, disjoint ranges: U_x = 900; z = (900 - 450 - 0.5)/sqrt(30*30*61/12)
  // = 449.5 / 67.639 = 6.6456 -> p ~ 3.0e-11.
  std::vector<double> x, y;
  for (int i = 0; i < 30; ++i) {
    x.push_back(100 + i);
    y.push_back(i);
  }
  const MannWhitneyResult r = mann_whitney_u(x, y);
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.u_x, 900.0);
  EXPECT_GT(r.p_value, 1e-11);
  EXPECT_LT(r.p_value, 1e-10);
}

TEST(GateMannWhitney, EmptySampleIsRejected) {
  EXPECT_THROW(mann_whitney_u(std::vector<double>{}, kMales), std::invalid_argument);
}

}  // namespace
}  // namespace rcvq
