#include <gtest/gtest.h>
#include <pcap/dlt.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <sstream>
#include <thread>

#include "common/errors.hpp"
#include "common/stop.hpp"
#include "plan/frame_send_ring.hpp"
#include "plan/streamed_plan.hpp"
#include "scenario/load.hpp"
#include "unit/capture_pcap_builder.hpp"

namespace rcvq {
namespace {

Scenario scenario(const std::string& yaml) { return parse_scenario(yaml, "s.yaml"); }

ReplayPlan held(const Scenario& sc) { return build_plan(sc, load_source(sc)); }

ReplayPlan streamed(const Scenario& sc) {
  Scenario forced = sc;
  forced.run.plan = RunOptions::PlanStorage::Streamed;
  ReplayPlan plan = make_plan(forced, false);
  // The plan points at the scenario it was made from: keep it pointing at the caller's.
  plan.streamed->scenario = &sc;
  return plan;
}

bool same(const PlannedSegment& a, const PlannedSegment& b) {
  return a.offset == b.offset && a.length == b.length && a.send_at_ns == b.send_at_ns && a.flags == b.flags;
}
bool same(const PlannedFrame& a, const PlannedFrame& b) {
  return a.start == b.start && a.end == b.end && a.first_segment == b.first_segment &&
         a.last_segment == b.last_segment && a.due_ns == b.due_ns;
}

// The streamed plan's walk, concatenated, is the held plan: same segments, frames and
// bytes, and the same figures.
void expect_walk_is_the_held_plan(const Scenario& sc) {
  const ReplayPlan whole = held(sc);
  const ReplayPlan plan = streamed(sc);
  ASSERT_TRUE(plan.streamed);
  EXPECT_EQ(plan.frame_count(), whole.frame_count());
  EXPECT_EQ(plan.segment_count(), whole.segment_count());
  EXPECT_EQ(plan.stream_size(), whole.stream_size());
  EXPECT_EQ(plan.duration_ns(), whole.duration_ns());
  EXPECT_EQ(plan.measured_frames_by_segments(), whole.measured_frames_by_segments());
  EXPECT_EQ(plan.stream_hash(), whole.stream_hash());
  const std::unique_ptr<PlanWalk> walk = walk_plan(*plan.streamed);
  std::vector<PlannedSegment> segments;
  std::vector<PlannedFrame> frames;
  std::vector<uint8_t> bytes;
  while (walk->next()) {
    ASSERT_EQ(walk->first_segment(), segments.size());
    ASSERT_EQ(walk->first_frame(), frames.size());
    ASSERT_FALSE(walk->frames().empty()) << "a step ends with a segment that completes a frame";
    ASSERT_EQ(walk->frames().back().last_segment, walk->first_segment() + walk->segments().size() - 1);
    frames.insert(frames.end(), walk->frames().begin(), walk->frames().end());
    segments.insert(segments.end(), walk->segments().begin(), walk->segments().end());
    ASSERT_EQ(walk->segments().front().offset, bytes.size());
    bytes.insert(bytes.end(), walk->bytes().begin(), walk->bytes().end());
  }
  ASSERT_EQ(segments.size(), whole.segments.size());
  for (size_t i = 0; i < segments.size(); ++i) EXPECT_TRUE(same(segments[i], whole.segments[i])) << "segment " << i;
  ASSERT_EQ(frames.size(), whole.frames.size());
  for (size_t i = 0; i < frames.size(); ++i) EXPECT_TRUE(same(frames[i], whole.frames[i])) << "frame " << i;
  EXPECT_TRUE(bytes == whole.stream);
}

void expect_walk_is_the_held_plan(const std::string& yaml) {
  SCOPED_TRACE(yaml);
  expect_walk_is_the_held_plan(scenario(yaml));
}

TEST(StreamedPlan, WalkIsTheHeldPlanForEveryPerFrameCut) {
  const std::string source = "source: {synthetic: {frames: 40, header: {min: 0, max: 30}, payload: {min: 1, max: 5000}, seed: 7}}\n";
  for (const char* cut : {"{cut: whole, frame_gap_us: 5}", "{cut: {chunks: 9}, chunk_gap_us: 3, frame_gap_us: 11}",
                          "{cut: {fixed: 700}}", "{cut: {sizes: [4, 100, 2000]}, chunk_gap_us: 2}",
                          "{cut: {random: {min: 1, max: 3000}}, chunk_gap_us: 1}",
                          "{cut: {split-descriptor: 5}, chunk_gap_us: 9}"})
    expect_walk_is_the_held_plan(source + "framing: desc8\nsegmentation: " + cut + "\n");
  // A framing with a preamble: frame 0's segments begin with the preamble's.
  expect_walk_is_the_held_plan(
      "source: {synthetic: {frames: 5, payload: 300}}\nframing: http2\nsegmentation: {cut: {chunks: 2}, "
      "frame_gap_us: 10}\n");
}

TEST(StreamedPlan, SummaryMatchesTheHeldPlan) {
  const Scenario sc = scenario(
      "source: {synthetic: {frames: 500, payload: {min: 10, max: 9000}, seed: 3}}\nframing: desc8\n"
      "segmentation: {cut: {random: {min: 100, max: 2000}}, chunk_gap_us: 7, frame_gap_us: 13}\n"
      "run: {warmup_frames: 20}\n");
  const ReplayPlan whole = held(sc);
  const ReplayPlan walked = streamed(sc);
  ASSERT_TRUE(walked.streamed);
  EXPECT_FALSE(whole.streamed);
  EXPECT_TRUE(walked.stream.empty() && walked.segments.empty() && walked.frames.empty());
  EXPECT_EQ(walked.frame_count(), whole.frame_count());
  EXPECT_EQ(walked.segment_count(), whole.segment_count());
  EXPECT_EQ(walked.stream_size(), whole.stream_size());
  EXPECT_EQ(walked.duration_ns(), whole.duration_ns());
  EXPECT_EQ(walked.warmup_frames, 20u);
  EXPECT_DOUBLE_EQ(walked.planned_segments_per_frame(), whole.planned_segments_per_frame());
  EXPECT_EQ(walked.measured_frames_by_segments(), whole.measured_frames_by_segments());
  EXPECT_EQ(walked.measured_frame_period_ns(), whole.measured_frame_period_ns());
  EXPECT_GT(walked.measured_frame_period_ns(), 0);
  EXPECT_EQ(walked.stream_hash(), whole.stream_hash());
  // The timeline's excerpt: the first eight measured frames and their segments.
  const PlanExcerpt& shown = walked.streamed->timeline;
  ASSERT_EQ(shown.first_frame, 20u);
  ASSERT_EQ(shown.frames.size(), 8u);
  EXPECT_EQ(shown.first_segment, whole.frames[20].first_segment);
  for (size_t f = 0; f < 8; ++f) EXPECT_TRUE(same(shown.frames[f], whole.frames[20 + f]));
  ASSERT_EQ(shown.segments.size(), whole.frames[27].last_segment + 1 - shown.first_segment);
  for (size_t s = 0; s < shown.segments.size(); ++s)
    EXPECT_TRUE(same(shown.segments[s], whole.segments[shown.first_segment + s]));
}

TEST(StreamedPlan, AutoStreamsOnlyLargePlansThatCanStreamAndNoModeNeedsWhole) {
  const std::string big = "source: {synthetic: {frames: 100000, payload: 4000}}\nframing: desc8\n";
  EXPECT_TRUE(make_plan(scenario(big), false).streamed) << "400 MB held";
  EXPECT_FALSE(make_plan(scenario(big), true).streamed) << "a mode reads the whole plan, and it fits";
  EXPECT_TRUE(make_plan(scenario(big + "run: {max_memory_mb: 100}\n"), true).streamed)
      << "held it would exceed the budget: streamed, and the mode reading it cannot run";
  EXPECT_FALSE(make_plan(scenario(big + "run: {plan: held}\n"), false).streamed);
  EXPECT_FALSE(make_plan(scenario("source: {synthetic: {frames: 1000, payload: 4000}}\nframing: desc8\n"), false).streamed)
      << "4 MB: cheaper held";
  EXPECT_FALSE(make_plan(scenario(big + "transport: {kind: tap}\n"), false).streamed) << "the tap peer holds its plan";
}

TEST(StreamedPlan, ForcedOnAScenarioThatCannotStreamIsBadInputNamingTheLine) {
  const std::string yaml =
      "source: {synthetic: {frames: 10, payload: 100}}\ntransport: {kind: tap}\nrun:\n  plan: streamed\n";
  try {
    scenario(yaml);
    FAIL() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("s.yaml:4"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("loopback or veth"), std::string::npos) << e.what();
  }
}

TEST(StreamedPlan, PrinterShowsTheFirstAndLastRowsOfAHugePlanWithoutHoldingIt) {
  const Scenario sc = scenario(
      "source: {synthetic: {frames: 1000000, payload: 4000}}\nframing: desc8\nsegmentation: {cut: {chunks: 2}}\n"
      "run: {plan: streamed}\n");
  const ReplayPlan plan = make_plan(sc, false);
  EXPECT_EQ(plan.frame_count(), 1'000'000u);
  EXPECT_EQ(plan.segment_count(), 2'000'000u);
  EXPECT_EQ(plan.stream_size(), 4'008'000'000u);
  std::ostringstream out;
  print_plan(out, sc, plan, 2);
  const std::string text = out.str();
  EXPECT_NE(text.find("... 1999996 more"), std::string::npos) << text;
  EXPECT_NE(text.find("... 999996 more"), std::string::npos) << text;
  EXPECT_NE(text.find(" 1999999   4007997996     2004"), std::string::npos) << text;
  EXPECT_NE(text.find("  999999   4007995992   4008000000"), std::string::npos) << text;
}

TEST(StreamedPlan, CaptureWalkIsTheHeldPlanForEverySharedCapture) {
  const std::string dir = std::string(RCVQ_SHARED_DIR) + "/pcaps/";
  for (const char* file : {"dns-tcp-two-queries-one-segment.pcap", "grpc-h2-service-name.pcap",
                           "grpc-h2-segmented-midstream.pcap", "kafka-produce-v7.pcap", "mongo-opquery-opmsg.pcap",
                           "mysql-caching-sha2-nsec.pcapng", "pgsql-extended-midstream-port8000.pcap", "tls-rawip.pcap"})
    for (const char* cut : {"{cut: whole, frame_gap_us: 3}", "{cut: {chunks: 3}, chunk_gap_us: 2}",
                            "{cut: {random: {min: 1, max: 40}}, chunk_gap_us: 1}", "{cut: as-captured}",
                            "{cut: as-captured, time_scale: 0.5, max_gap_us: 100}"}) {
      const std::string yaml = "source: {capture: {path: " + dir + file + ", on_gap: resync}}\nframing: auto\n" +
                               "segmentation: " + cut + "\n";
      SCOPED_TRACE(yaml);
      const Scenario sc = scenario(yaml);
      expect_walk_is_the_held_plan(sc);
      const ReplayPlan whole = held(sc), walked = streamed(sc);
      EXPECT_EQ(walked.source_description, whole.source_description + " (streamed)");
      // Every row of the plan printer alike, whichever plan it walks.
      std::ostringstream held_text, streamed_text;
      print_plan(held_text, sc, whole, 100000);
      print_plan(streamed_text, sc, walked, 100000);
      const auto rows = [](const std::string& text) { return text.substr(text.find("\n segment")); };
      EXPECT_EQ(rows(streamed_text.str()), rows(held_text.str()));
    }
}

// Crafted captures whose gaps, mid-frame start, trailing bytes and cap each decide what
// is kept: streamed and held keep the same, and say so alike.
TEST(StreamedPlan, CaptureGapsMidStreamStartsAndCapsKeepWhatTheHeldPlanKeeps) {
  using namespace capture_test;
  const Bytes stream = kafka_frames(8, 96);  // frames of 100 bytes
  struct Case {
    const char* name;
    std::vector<Piece> pieces;
    bool handshake;
    CaptureSource::OnGap on_gap;
    uint64_t max_stream_bytes;
    const char* note;  // in the description
  };
  using enum CaptureSource::OnGap;
  const Case cases[] = {
      {"gap-stop", {{0, 150}, {250, 150}, {400, 400}}, true, Stop, 1 << 20, "stopped at the gap of 100 bytes"},
      {"gap-resync", {{0, 150}, {250, 150}, {400, 400}}, true, Resync, 1 << 20, "resumed 50 bytes after the gap"},
      {"mid-stream", {{30, 170}, {200, 600}}, false, Resync, 1 << 20, "skipped 70 bytes before the first frame"},
      {"trailing", {{0, 250}}, true, Stop, 1 << 20, "50 trailing bytes of an incomplete frame dropped"},
      {"capped", {{0, 400}, {400, 400}}, true, Stop, 550, "cut at max_stream_bytes 550"},
      {"no-boundary", {{0, 200}, {230, 40}, {400, 400}}, true, Resync, 1 << 20, "dropped 40 bytes after the gap"},
  };
  // No boundary in the 64 KiB after a gap: the rest of that stretch is dropped.
  Bytes unframed = kafka_frames(1, 96);
  unframed.insert(unframed.end(), 70000, 0xff);
  const Bytes after = kafka_frames(3, 96);
  unframed.insert(unframed.end(), after.begin(), after.end());
  const Case window{"no-boundary-in-window", {{0, 100}, {150, 30000}, {30150, 30000}, {60150, unframed.size() - 60150}},
                    true, Resync, 1 << 20, "dropped 70250 bytes after the gap"};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = write_temp(std::string("streamed-") + c.name + ".pcap",
                                        pcap_file(DLT_EN10MB, conversation(stream, c.pieces, c.handshake)));
    for (const Segmentation::Kind cut : {Segmentation::Kind::Whole, Segmentation::Kind::AsCaptured}) {
      SCOPED_TRACE(to_string(cut));
      Scenario sc = capture_scenario(path, "kafka", c.on_gap);
      sc.source.capture.max_stream_bytes = c.max_stream_bytes;
      sc.segmentation.kind = cut;
      expect_walk_is_the_held_plan(sc);
      const ReplayPlan plan = streamed(sc);
      EXPECT_NE(plan.source_description.find(c.note), std::string::npos) << plan.source_description;
    }
    std::remove(path.c_str());
  }
  const std::string path = write_temp("streamed-window.pcap", pcap_file(DLT_EN10MB, conversation(unframed, window.pieces)));
  Scenario sc = capture_scenario(path, "kafka", Resync);
  expect_walk_is_the_held_plan(sc);
  const ReplayPlan plan = streamed(sc);
  EXPECT_EQ(plan.frame_count(), 1u);
  EXPECT_NE(plan.source_description.find(window.note), std::string::npos) << plan.source_description;
  // A frame the run could not hold is refused before its bytes are gathered.
  Bytes huge = kafka_frames(1, 96);
  put32(huge, 3u << 20);
  const std::string huge_path = write_temp("streamed-huge.pcap", pcap_file(DLT_EN10MB, conversation(huge, {{0, 108}})));
  Scenario huge_sc = capture_scenario(huge_path, "kafka");
  huge_sc.run.max_memory_mb = 1;
  huge_sc.run.plan = RunOptions::PlanStorage::Streamed;
  try {
    make_plan(huge_sc, false);
    ADD_FAILURE() << "a 3 MiB frame under a 1 MB budget was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("frame at stream offset 100 declares 3145732 bytes"), std::string::npos)
        << e.what();
  }
  std::remove(path.c_str());
  std::remove(huge_path.c_str());
}

// Peak memory of walking a capture's streamed plan against holding it, each in a child
// of its own: the held plan grows with the file, the walk by one frame and its buffers.
TEST(StreamedPlan, CaptureWalkMemoryDoesNotGrowWithTheFile) {
  using namespace capture_test;
  constexpr size_t kFrames = 12000, kBody = 4000;  // a 49 MB stream
  const Bytes stream = kafka_frames(kFrames, kBody);
  std::vector<Piece> pieces;
  for (size_t offset = 0; offset < stream.size(); offset += 1448) pieces.push_back({offset, std::min<size_t>(1448, stream.size() - offset)});
  const std::string path = write_temp("streamed-memory.pcap", pcap_file(DLT_EN10MB, conversation(stream, pieces)));
  auto growth_kb = [&](bool walk) {
    int out[2];
    EXPECT_EQ(pipe(out), 0);
    const pid_t child = fork();
    if (child == 0) {
      long before = 0, after = 0;
      auto hwm = [] {
        std::ifstream status("/proc/self/status");
        for (std::string line; std::getline(status, line);)
          if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
        return 0L;
      };
      before = hwm();
      Scenario sc = capture_scenario(path, "kafka");
      sc.segmentation.kind = Segmentation::Kind::Fixed;
      sc.segmentation.fixed = 1000;
      sc.run.max_memory_mb = 4096;
      uint64_t frames = 0;
      if (walk) {
        sc.run.plan = RunOptions::PlanStorage::Streamed;
        const ReplayPlan plan = make_plan(sc, false);
        const std::unique_ptr<PlanWalk> w = walk_plan(*plan.streamed);
        while (w->next()) frames += w->bytes().empty() ? 0 : w->frames().size();
      } else {
        frames = held(sc).frame_count();
      }
      after = hwm();
      const long result[2] = {after - before, long(frames)};
      _exit(write(out[1], result, sizeof result) == sizeof result ? 0 : 1);
    }
    close(out[1]);
    long result[2] = {-1, -1};
    EXPECT_EQ(read(out[0], result, sizeof result), ssize_t(sizeof result));
    close(out[0]);
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_EQ(result[1], long(kFrames));
    return result[0];
  };
  const long held_kb = growth_kb(false), walked_kb = growth_kb(true);
  std::remove(path.c_str());
  EXPECT_GT(held_kb, long(stream.size() / 1024)) << "the held plan holds the stream";
  EXPECT_LT(walked_kb, 8 * 1024) << "held grew " << held_kb << " KB";
  std::printf("peak memory growth: held %ld KB, streamed %ld KB\n", held_kb, walked_kb);
}

TEST(FrameSendRing, EntriesReachTheReceiverAndAreCheckedForTheFrameTheyHold) {
  FrameSendRing ring(5, 2, 4);
  ring.publish(0, 100, 150);
  EXPECT_EQ(ring.entry(0).due_ns, 100);
  EXPECT_EQ(ring.entry(0).sent_ns, 150);
  EXPECT_THROW(ring.entry(1), RunError) << "not yet sent";
  ring.publish(4, 500, 550);  // slot 0 again
  EXPECT_THROW(ring.entry(0), RunError) << "overwritten";
}

TEST(FrameSendRing, TheSenderWaitsForTheSlowestConnection) {
  const StopSignal& stop = StopSignal::instance();
  FrameSendRing ring(10, 2, 4);
  EXPECT_TRUE(ring.wait_for_room(3, stop));
  std::atomic<bool> got_room{false};
  std::thread sender([&] { got_room = ring.wait_for_room(4, stop); });
  ring.completed(10, 3);  // connection 10 is ahead; 11 has read nothing
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(got_room) << "frame 4 would overwrite frame 0, which connection 11 has not read";
  ring.completed(11, 1);
  sender.join();
  EXPECT_TRUE(got_room);
}

TEST(FrameSendRing, AbandonedByItsReceiversTheSenderStopsWaiting) {
  const StopSignal& stop = StopSignal::instance();
  FrameSendRing ring(0, 1, 2);
  std::atomic<int> got_room{-1};
  std::thread sender([&] { got_room = ring.wait_for_room(2, stop) ? 1 : 0; });
  ring.abandon();
  sender.join();
  EXPECT_EQ(got_room, 0);
}

}  // namespace
}  // namespace rcvq
