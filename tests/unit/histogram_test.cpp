#include <gtest/gtest.h>

#include <sstream>

#include "results/histogram.hpp"

namespace rcvq {
namespace {

TEST(Histogram, PercentilesWithinOneTenthOfAPercent) {
  Histogram h;
  for (int64_t v = 1; v <= 100000; ++v) h.record(v * 1000);  // 1 us .. 100 ms in ns
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_NEAR(double(h.value_at_percentile(50)), 50e6, 50e6 * 0.001);
  EXPECT_NEAR(double(h.value_at_percentile(99)), 99e6, 99e6 * 0.001);
  EXPECT_EQ(h.max(), 100000 * 1000);
  EXPECT_NEAR(h.mean(), 50000.5 * 1000, 1);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (int v : {1, 2, 3, 2047}) h.record(v);
  EXPECT_EQ(h.value_at_percentile(25), 1);
  EXPECT_EQ(h.value_at_percentile(75), 3);
  EXPECT_EQ(h.value_at_percentile(100), 2047);
}

TEST(Histogram, MergeEqualsRecordingEverything) {
  Histogram a, b, all;
  for (int v = 0; v < 1000; ++v) {
    (v % 2 ? a : b).record(v * 37);
    all.record(v * 37);
  }
  a.merge(b);
  for (double p : {10.0, 50.0, 90.0, 99.9}) EXPECT_EQ(a.value_at_percentile(p), all.value_at_percentile(p));
}

TEST(Histogram, HgrmHasHdrHistogramColumnsAndFooter) {
  Histogram h;
  for (int v = 1; v <= 1000; ++v) h.record(v * 1000);
  std::ostringstream out;
  h.write_hgrm(out, 1000.0);
  const std::string text = out.str();
  EXPECT_EQ(text.rfind("       Value     Percentile TotalCount 1/(1-Percentile)", 0), 0u) << text;
  EXPECT_NE(text.find("1000.000 1.000000000000       1000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("#[Mean    ="), std::string::npos);
  EXPECT_NE(text.find("#[Buckets ="), std::string::npos);
  // Percentiles must not decrease down the table.
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);
  std::getline(lines, line);
  double last = -1;
  while (std::getline(lines, line) && line[0] != '#') {
    double value = 0, pct = 0;
    std::istringstream(line) >> value >> pct;
    EXPECT_GE(pct, last);
    last = pct;
  }
  EXPECT_EQ(last, 1.0);
}

}  // namespace
}  // namespace rcvq
