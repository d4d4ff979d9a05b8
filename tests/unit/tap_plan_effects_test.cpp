// Segment plan options for the tap transport: MSS cut, reorder, duplicate, overlap,
// drop-and-retransmit, per-segment gaps, frame completion mapping, validation.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <sstream>

#include "common/errors.hpp"
#include "plan/plan.hpp"
#include "scenario/load.hpp"
#include "source/source_stream.hpp"

namespace rcvq {
namespace {

// 10 frames of 8 + 992 bytes, each cut into 4 chunks of 250 bytes.
Scenario tap_scenario(const std::string& effects, const std::string& kind = "tap") {
  const std::string yaml = fmt::format(R"(
source: {{synthetic: {{frames: 10, payload: 992}}}}
segmentation:
  cut: {{chunks: 4}}
  chunk_gap_us: 10
{}
transport: {{kind: {}}}
)", effects.empty() ? "" : "  effects:\n" + effects, kind);
  return parse_scenario(yaml, "test.yaml");
}

ReplayPlan plan_for(const Scenario& sc) { return build_plan(sc, load_source(sc)); }

// Every stream byte is covered by some transmitted segment, and frames complete at
// the transmission after which all their bytes (and all before) have been sent.
void expect_consistent(const ReplayPlan& p) {
  std::vector<bool> covered(p.stream.size(), false);
  for (const PlannedSegment& s : p.segments) {
    if (s.flags & kSegDropped) continue;
    for (uint64_t b = s.offset; b < s.offset + s.length; ++b) covered[b] = true;
  }
  for (size_t b = 0; b < covered.size(); ++b) ASSERT_TRUE(covered[b]) << "byte " << b << " never sent";
  for (size_t i = 1; i < p.segments.size(); ++i)
    ASSERT_LE(p.segments[i - 1].send_at_ns, p.segments[i].send_at_ns) << "timing must be monotonic";
  for (const PlannedFrame& f : p.frames) {
    std::vector<bool> got(f.end, false);
    for (uint32_t j = 0; j <= f.last_segment; ++j) {
      const PlannedSegment& s = p.segments[j];
      if (s.flags & kSegDropped) continue;
      for (uint64_t b = s.offset; b < std::min<uint64_t>(f.end, s.offset + s.length); ++b) got[b] = true;
    }
    for (uint64_t b = 0; b < f.end; ++b) ASSERT_TRUE(got[b]) << "frame ending " << f.end << " misses byte " << b;
    EXPECT_EQ(f.due_ns, p.segments[f.last_segment].send_at_ns);
  }
}

TEST(TapPlanEffects, NoEffectsKeepsTheCut) {
  const ReplayPlan p = plan_for(tap_scenario(""));
  ASSERT_EQ(p.segments.size(), 40u);
  for (const PlannedSegment& s : p.segments) EXPECT_EQ(s.flags, kSegNone);
  EXPECT_EQ(p.frames[3].last_segment, 15u);
  expect_consistent(p);
}

TEST(TapPlanEffects, ChunksLargerThanTheMssAreCutIntoWirePackets) {
  const Scenario sc = parse_scenario(R"(
source: {synthetic: {frames: 2, payload: 3992}}
transport: {kind: tap, mtu: 1500}
)", "t.yaml");
  const ReplayPlan p = plan_for(sc);
  ASSERT_EQ(p.segments.size(), 6u);  // 4000 B = 1460 + 1460 + 1080, twice
  EXPECT_EQ(p.segments[0].length, 1460u);
  EXPECT_EQ(p.segments[2].length, 1080u);
  EXPECT_EQ(p.frames[0].last_segment, 2u);
  EXPECT_EQ(p.frames[1].first_segment, 3u);
  EXPECT_EQ(tap_mss(sc.transport), 1460u);
  expect_consistent(p);
}

TEST(TapPlanEffects, ReorderHoldsASegmentBackKeepingTheTimeSlots) {
  const ReplayPlan base = plan_for(tap_scenario(""));
  const ReplayPlan p = plan_for(tap_scenario("    reorder: {every: 8, start: 1, by: 2}\n"));
  ASSERT_EQ(p.segments.size(), 40u);
  // Segment 1 goes out in slot 3, after the two that followed it.
  EXPECT_EQ(p.segments[1].offset, base.segments[2].offset);
  EXPECT_EQ(p.segments[2].offset, base.segments[3].offset);
  EXPECT_EQ(p.segments[3].offset, base.segments[1].offset);
  EXPECT_TRUE(p.segments[3].flags & kSegReordered);
  for (size_t i = 0; i < 40; ++i) EXPECT_EQ(p.segments[i].send_at_ns, base.segments[i].send_at_ns);
  expect_consistent(p);
}

TEST(TapPlanEffects, DropRetransmitsLaterAndFramesWaitForIt) {
  const ReplayPlan p = plan_for(tap_scenario("    drop: {every: 100, start: 2, retransmit_after_us: 45}\n"));
  ASSERT_EQ(p.segments.size(), 41u);
  EXPECT_TRUE(p.segments[2].flags & kSegDropped);
  // 10 us between chunks, 45 us later: after segments 3..6 (t = 30..60 us) -> index 7.
  size_t retx = 0;
  for (size_t i = 0; i < p.segments.size(); ++i)
    if (p.segments[i].flags & kSegRetransmit) retx = i;
  EXPECT_EQ(p.segments[retx].offset, p.segments[2].offset);
  EXPECT_EQ(p.segments[retx].send_at_ns, p.segments[2].send_at_ns + 45'000);
  EXPECT_GT(retx, 3u);
  EXPECT_EQ(p.frames[0].last_segment, retx) << "frame 0 completes only with the retransmission";
  expect_consistent(p);
}

TEST(TapPlanEffects, ReorderingNeverPullsARetransmissionForward) {
  const ReplayPlan p = plan_for(tap_scenario("    drop: {every: 100, start: 2, retransmit_after_us: 45}\n"
                                             "    reorder: {every: 1, start: 0, by: 3}\n"));
  for (const PlannedSegment& s : p.segments) {
    if (!(s.flags & kSegRetransmit)) continue;
    EXPECT_EQ(s.send_at_ns, 20'000 + 45'000) << "the retransmission keeps its delay";
  }
  expect_consistent(p);
}

TEST(TapPlanEffects, DuplicateAndOverlapResendEarlierBytes) {
  const ReplayPlan base = plan_for(tap_scenario(""));
  const ReplayPlan p = plan_for(tap_scenario("    duplicate: {every: 100, start: 0}\n"
                                             "    overlap: {every: 100, start: 5, bytes: 100}\n"));
  ASSERT_EQ(p.segments.size(), 41u);
  EXPECT_TRUE(p.segments[1].flags & kSegDuplicate);
  EXPECT_EQ(p.segments[1].offset, p.segments[0].offset);
  EXPECT_EQ(p.segments[1].length, p.segments[0].length);
  const PlannedSegment& ov = p.segments[6];  // cut segment 5, shifted by the duplicate
  EXPECT_TRUE(ov.flags & kSegOverlap);
  EXPECT_EQ(ov.offset, base.segments[5].offset - 100);
  EXPECT_EQ(ov.offset + ov.length, base.segments[5].offset + base.segments[5].length);
  expect_consistent(p);
}

TEST(TapPlanEffects, GapsReplaceTheCutTiming) {
  const ReplayPlan p = plan_for(tap_scenario("    gaps_us: [0, 100, 5]\n"));
  EXPECT_EQ(p.segments[0].send_at_ns, 0);
  EXPECT_EQ(p.segments[1].send_at_ns, 100'000);
  EXPECT_EQ(p.segments[2].send_at_ns, 105'000);
  EXPECT_EQ(p.segments[3].send_at_ns, 105'000);
  EXPECT_EQ(p.segments[4].send_at_ns, 205'000);
}

TEST(TapPlanEffects, PrinterShowsTheEffects) {
  const Scenario sc = tap_scenario("    reorder: {every: 8, start: 1, by: 2}\n    drop: {every: 100, start: 2}\n");
  std::ostringstream out;
  print_plan(out, sc, plan_for(sc), 100);
  EXPECT_NE(out.str().find("reordered"), std::string::npos);
  EXPECT_NE(out.str().find("dropped"), std::string::npos);
  EXPECT_NE(out.str().find("retransmit"), std::string::npos);
  EXPECT_NE(out.str().find("reorder every 8 from 1 by 2"), std::string::npos);
}

TEST(TapPlanEffects, SocketTransportsRejectPacketOptions) {
  for (const char* kind : {"loopback", "veth"}) {
    try {
      tap_scenario("    reorder: {every: 3}\n", kind);
      FAIL() << kind << " accepted segmentation.effects";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("need transport kind: tap"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("test.yaml:"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(parse_scenario("transport: {kind: veth, hds: true}\n", "t.yaml"), InputError);
  EXPECT_THROW(parse_scenario("transport: {kind: loopback, tfo: true}\n", "t.yaml"), InputError);
  EXPECT_THROW(parse_scenario("transport: {kind: tap, hds: true, napi_frags: false}\n", "t.yaml"), InputError);
  EXPECT_THROW(tap_scenario("    reorder: {by: 3}\n"), InputError) << "'every' is required";
  EXPECT_THROW(tap_scenario("    wobble: {every: 3}\n"), InputError) << "unknown effect";
}

}  // namespace
}  // namespace rcvq
