#include <gtest/gtest.h>

#include <numeric>
#include <sstream>

#include "common/errors.hpp"
#include "plan/plan.hpp"
#include "scenario/load.hpp"

namespace rcvq {
namespace {

ReplayPlan plan_for(const std::string& segmentation, const std::string& source = "{synthetic: {frames: 4, payload: 992}}") {
  Scenario sc = parse_scenario("source: " + source + "\nsegmentation: " + segmentation + "\n", "p.yaml");
  return build_plan(sc, load_source(sc));
}

std::vector<uint32_t> lengths(const ReplayPlan& plan) {
  std::vector<uint32_t> out;
  for (const auto& s : plan.segments) out.push_back(s.length);
  return out;
}

// Segments tile the stream exactly, in order, and every frame's last segment holds its last byte.
void expect_consistent(const ReplayPlan& plan) {
  uint64_t offset = 0;
  for (const auto& s : plan.segments) {
    EXPECT_EQ(s.offset, offset);
    offset += s.length;
  }
  EXPECT_EQ(offset, plan.stream.size());
  for (const auto& f : plan.frames) {
    const auto& last = plan.segments[f.last_segment];
    EXPECT_LT(f.end - 1, last.offset + last.length);
    EXPECT_GE(f.end - 1, last.offset);
    EXPECT_EQ(f.due_ns, last.send_at_ns);
  }
}

TEST(Planner, WholeSendsEachFrameAtOnce) {
  ReplayPlan p = plan_for("{cut: whole, frame_gap_us: 100}");
  EXPECT_EQ(lengths(p), (std::vector<uint32_t>{1000, 1000, 1000, 1000}));
  EXPECT_EQ(p.segments[3].send_at_ns, 300'000);
  expect_consistent(p);
}

TEST(Planner, FixedCutsEveryFrameSeparately) {
  ReplayPlan p = plan_for("{cut: {fixed: 400}}");
  EXPECT_EQ(p.segments.size(), 12u);
  EXPECT_EQ(lengths(p)[0], 400u);
  EXPECT_EQ(lengths(p)[2], 200u);
  expect_consistent(p);
}

TEST(Planner, ChunksSplitEvenlyAndPaceWithAbsoluteOffsets) {
  ReplayPlan p = plan_for("{cut: {chunks: 9}, chunk_gap_us: 1000, frame_gap_us: 1000}",
                          "{synthetic: {frames: 3, payload: 4000}}");
  ASSERT_EQ(p.segments.size(), 27u);
  EXPECT_EQ(lengths(p)[0], 446u);  // 4008 = 3 * 446 + 6 * 445
  EXPECT_EQ(lengths(p)[8], 445u);
  EXPECT_EQ(p.segments[8].send_at_ns, 8'000'000);
  EXPECT_EQ(p.segments[9].send_at_ns, 9'000'000);  // frame gap after the last chunk
  EXPECT_EQ(p.frames[1].due_ns, 17'000'000);
  EXPECT_DOUBLE_EQ(p.planned_segments_per_frame(), 9.0);
  expect_consistent(p);
}

TEST(Planner, SizesRepeatTheLastEntry) {
  ReplayPlan p = plan_for("{cut: {sizes: [3, 500]}}");
  const std::vector<uint32_t> got = lengths(p);
  EXPECT_EQ(std::vector<uint32_t>(got.begin(), got.begin() + 4), (std::vector<uint32_t>{3, 500, 497, 3}));
  expect_consistent(p);
}

TEST(Planner, RandomIsBoundedAndDeterministic) {
  ReplayPlan a = plan_for("{cut: {random: {min: 50, max: 300}}}");
  ReplayPlan b = plan_for("{cut: {random: {min: 50, max: 300}}}");
  EXPECT_EQ(lengths(a), lengths(b));
  for (const auto& s : a.segments) EXPECT_LE(s.length, 300u);
  expect_consistent(a);
}

TEST(Planner, SplitDescriptorCutsInsideThePrefix) {
  ReplayPlan p = plan_for("{cut: {split-descriptor: 3}}");
  const std::vector<uint32_t> got = lengths(p);
  EXPECT_EQ(std::vector<uint32_t>(got.begin(), got.begin() + 2), (std::vector<uint32_t>{3, 997}));
  expect_consistent(p);
}

TEST(Planner, WarmupFramesAreExcludedFromPlannedSegmentsPerFrame) {
  Scenario sc = parse_scenario("source: {synthetic: {frames: 4, payload: [100, 100, 992, 992]}}\n"
                               "segmentation: {cut: {fixed: 250}}\nrun: {warmup_frames: 2}\n",
                               "w.yaml");
  ReplayPlan p = build_plan(sc, load_source(sc));
  EXPECT_DOUBLE_EQ(p.planned_segments_per_frame(), 4.0);
}

TEST(Planner, PrinterShowsSegmentsAndFrames) {
  Scenario sc = parse_scenario("source: {synthetic: {frames: 2, payload: 10}}\nsegmentation: {cut: {split-descriptor: 4}}\n",
                               "pp.yaml");
  std::ostringstream out;
  print_plan(out, sc, build_plan(sc, load_source(sc)), 100);
  EXPECT_NE(out.str().find("2 frames"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("4 segments"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("split-descriptor"), std::string::npos) << out.str();
}

TEST(Planner, ScaledCaptureGapsPastAnInt64ScheduleAreBadInputNamingTimeScale) {
  // The reported case: time_scale times a captured idle time overflowed into a negative
  // plan duration, and the sender then spun on clock_nanosleep's EINVAL.
  Scenario sc = parse_scenario("source: {synthetic: {frames: 2, payload: 100}}\n", "overflow.yaml");
  SourceStream source = generate_synthetic(sc);
  sc.segmentation.kind = Segmentation::Kind::AsCaptured;
  sc.segmentation.time_scale = 1e6;
  const uint32_t half = uint32_t(source.bytes.size() / 2);
  // 4e18 ns is about the largest gap a pcap's 32-bit seconds can hold.
  constexpr int64_t kIdleNs = 4'000'000'000'000'000'000;
  source.segments = {{0, half, 0}, {half, uint32_t(source.bytes.size()) - half, kIdleNs}};
  try {
    build_plan(sc, source);
    FAIL() << "a schedule past int64 nanoseconds must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("overflow.yaml: segmentation.time_scale"), std::string::npos) << e.what();
  }
  sc.segmentation.time_scale = 1;
  EXPECT_EQ(build_plan(sc, source).duration_ns(), kIdleNs);
}

}  // namespace
}  // namespace rcvq
