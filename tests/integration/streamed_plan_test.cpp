// A streamed plan replayed through real sockets: the receivers see the held plan's
// bytes and frames, latencies come from the send times the sender rings carry, and the
// modes that need the whole plan say they cannot run.
#include <gtest/gtest.h>

#include "in_memory_run.hpp"
#include "run/runner.hpp"
#include "scenario/load.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;

Scenario streamed_scenario(const std::string& extra, const std::string& storage = "streamed") {
  return parse_scenario(R"(
name: streamed-test
source: {synthetic: {frames: 300, header: {min: 0, max: 40}, payload: {min: 100, max: 6000}, seed: 5}}
framing: desc8
segmentation: {cut: {chunks: 3}, chunk_gap_us: 100, frame_gap_us: 200}
run: {repetitions: 1, warmup_frames: 12, timeout_s: 60, plan: )" + storage +
                            "}\n" + extra,
                        "streamed-test.yaml");
}

// What every repetition of a streamed run must show, whatever the machine's load.
void expect_measured_by_the_rings(const ModeRepetition& r, uint64_t connections) {
  EXPECT_TRUE(r.integrity_ok) << r.integrity_detail;
  const uint64_t measured = 300 - 12;
  EXPECT_EQ(r.frames, measured * connections);
  EXPECT_EQ(r.latency.count(), measured * connections);
  EXPECT_EQ(r.latency_from_send.count(), measured * connections);
  // One record per measured segment and sender thread.
  EXPECT_EQ(r.send_lateness.count() % (measured * 3), 0u);
  EXPECT_GE(r.send_lateness.count(), measured * 3);
  // A segment is never handed over before its planned time, so no frame's latency from
  // its send exceeds its latency from its planned time.
  EXPECT_GE(r.latency.min(), r.latency_from_send.min());
  EXPECT_GE(r.latency.max(), r.latency_from_send.max());
  EXPECT_GE(r.send_lateness.min(), 0);
  EXPECT_GT(r.frame_period_ns, 0);
}

TEST(StreamedRun, ReceivesTheHeldPlansBytesAndRecordsEveryFramesLatency) {
  const RunOutcome streamed = run_in_memory(streamed_scenario("receiver: {modes: [baseline, lowat-user, autolowat-model]}\n"));
  const RunOutcome held = run_in_memory(streamed_scenario("receiver: {modes: [baseline]}\n", "held"));
  EXPECT_EQ(streamed.result.plan["storage"], "streamed");
  EXPECT_EQ(held.result.plan["storage"], "held");
  for (const char* key : {"stream_bytes", "frames", "segments", "segments_per_frame", "segments_per_frame_histogram",
                          "duration_s"})
    EXPECT_EQ(streamed.result.plan[key], held.result.plan[key]) << key;
  ASSERT_EQ(streamed.result.modes.size(), 3u);
  for (const ModeResult& m : streamed.result.modes) {
    SCOPED_TRACE(m.mode);
    if (m.mode == "autolowat-model") {
      EXPECT_EQ(m.status, "unsupported");
      EXPECT_NE(m.reason.find("streams its 300 frames"), std::string::npos) << m.reason;
      continue;
    }
    ASSERT_EQ(m.status, "ok") << m.reason;
    ASSERT_EQ(m.repetitions.size(), 1u);
    const ModeRepetition& r = m.repetitions[0];
    expect_measured_by_the_rings(r, 1);
    EXPECT_EQ(r.bytes, held.result.modes[0].repetitions[0].bytes);
    EXPECT_EQ(r.frame_period_ns, held.result.modes[0].repetitions[0].frame_period_ns);
    // The timeline: the first eight measured frames, every segment's send time known.
    ASSERT_EQ(r.timeline.frames.size(), 8u);
    EXPECT_EQ(r.timeline.frames[0].index, 12u);
    EXPECT_EQ(r.timeline.segments.size(), 8u * 3);
    for (const auto& s : r.timeline.segments) EXPECT_GE(s.sent_ns, s.planned_ns);
  }
}

TEST(StreamedRun, ManyConnectionsOnSeveralThreadsEachReadTheirSenderThreadsRing) {
  const RunOutcome out = run_in_memory(streamed_scenario(
      "receiver: {modes: [baseline], connections: 200, threads: 2}\nsender: {threads: 2}\n"));
  ASSERT_EQ(out.result.modes.size(), 1u);
  const ModeResult& m = out.result.modes[0];
  ASSERT_EQ(m.status, "ok") << m.reason;
  const ModeRepetition& r = m.repetitions[0];
  expect_measured_by_the_rings(r, 200);
  EXPECT_EQ(r.send_lateness.count(), (300u - 12) * 3 * 2) << "both sender threads' segments";
  EXPECT_EQ(r.extra["connections"]["integrity_ok"], 200);
}

// A capture read from its file as it is sent, its own segments kept (some carry several
// frames): every connection of both sender threads' gets every frame, each latency
// recorded from the send its segment was published with.
TEST(StreamedRun, ACaptureAsCapturedOnSeveralSenderThreads) {
  for (const char* file : {"dns-tcp-two-queries-one-segment.pcap", "mongo-opquery-opmsg.pcap"}) {
    SCOPED_TRACE(file);
    auto run = [&](const char* storage) {
      return run_in_memory(parse_scenario(std::string("name: streamed-capture\nsource: {capture: {path: ") +
                                              RCVQ_SHARED_DIR + "/pcaps/" + file +
                                              "}}\nframing: auto\nsegmentation: {cut: as-captured, max_gap_us: 200}\n"
                                              "receiver: {modes: [baseline], connections: 3}\nsender: {threads: 2}\n"
                                              "run: {repetitions: 1, warmup_frames: 0, timeout_s: 60, plan: " +
                                              storage + "}\n",
                                          "streamed-capture.yaml"));
    };
    const RunOutcome streamed = run("streamed"), held = run("held");
    EXPECT_EQ(streamed.result.plan["storage"], "streamed");
    for (const char* key : {"stream_bytes", "frames", "segments", "segments_per_frame_histogram", "duration_s"})
      EXPECT_EQ(streamed.result.plan[key], held.result.plan[key]) << key;
    const ModeResult& m = streamed.result.modes.at(0);
    ASSERT_EQ(m.status, "ok") << m.reason;
    const ModeRepetition& r = m.repetitions.at(0);
    const uint64_t frames = streamed.result.plan["frames"].get<uint64_t>();
    EXPECT_TRUE(r.integrity_ok) << r.integrity_detail;
    EXPECT_EQ(r.frames, frames * 3);
    EXPECT_EQ(r.latency.count(), frames * 3);
    EXPECT_GE(r.latency.min(), r.latency_from_send.min());
    EXPECT_EQ(r.extra["connections"]["integrity_ok"], 3);
  }
}

}  // namespace
}  // namespace rcvq
