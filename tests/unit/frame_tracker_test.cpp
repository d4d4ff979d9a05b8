#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "framing/framing.hpp"
#include "receiver/autolowat_model.hpp"
#include "scenario/load.hpp"
#include "source/source_stream.hpp"

#define FT_LOAD_BYTES(reader, offset, dst, len) (-1)
#include "frame_tracker.h"  // enum ft_stop_reason, FT_MAX_DESCRIPTORS_PER_SKB

namespace rcvq {
namespace {

// desc8 frame = {u32 header_len, u32 payload_len} little endian + header + payload.
std::vector<uint8_t> desc8_frame(uint32_t header, uint32_t payload, uint8_t fill = 0xab) {
  std::vector<uint8_t> f(8 + header + payload, fill);
  std::memcpy(f.data(), &header, 4);
  std::memcpy(f.data() + 4, &payload, 4);
  return f;
}

// A stream of the given payload sizes in `framing`, written by the project's own
// generator so every preset's protocol rules (type bytes, preambles) hold.
std::vector<uint8_t> frames_of(const std::string& framing, const std::vector<uint64_t>& payloads,
                               Framing* resolved = nullptr) {
  std::string list;
  for (uint64_t p : payloads) list += (list.empty() ? "" : ", ") + std::to_string(p);
  const uint64_t header = framing == "dns-tcp" ? 12 : 0;
  Scenario sc = parse_scenario("framing: " + framing + "\nsource:\n  synthetic:\n    frames: " +
                                   std::to_string(payloads.size()) + "\n    header: " +
                                   std::to_string(header) + "\n    payload: [" + list + "]\n",
                               "frame_tracker_test.yaml");
  SourceStream src = generate_synthetic(sc);
  if (resolved) *resolved = sc.framing;
  return src.bytes;
}

// The upstream selftest's socket: every send() is one skb over loopback, and the test
// asks after each step whether the socket is readable and what rcvlowat is.
class LoopbackSocket {
 public:
  explicit LoopbackSocket(const ft_spec& spec, uint32_t isn = 0)
      : isn_(isn), tracker_(spec, isn) {}

  void send(const std::vector<uint8_t>& bytes, size_t from, size_t len) {
    verdict_ = tracker_.on_skb(isn_ + uint32_t(queued_), {bytes.data() + from, len}, false,
                               isn_ + uint32_t(copied_));
    queued_ += len;
  }
  void recv(size_t len) {
    copied_ += len;
    verdict_ = tracker_.on_read(isn_ + uint32_t(copied_));
  }
  uint32_t lowat() const { return verdict_.lowat; }
  bool readable() const { return queued_ - copied_ >= verdict_.lowat && queued_ > copied_; }
  const TrackerVerdict& verdict() const { return verdict_; }
  FrameTrackerModel& tracker() { return tracker_; }

 private:
  uint32_t isn_;
  FrameTrackerModel tracker_;
  TrackerVerdict verdict_;
  uint64_t queued_ = 0, copied_ = 0;
};

std::vector<uint8_t> concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const ft_spec& desc8() {
  static const Framing f = framing_preset("desc8");
  return f.spec;
}

class UpstreamCases : public ::testing::TestWithParam<uint32_t> {};

// Case 0: one 100/150 frame (258 B).
TEST_P(UpstreamCases, Case0OneFrame) {
  LoopbackSocket sock(desc8(), GetParam());
  auto stream = desc8_frame(100, 150);
  sock.send(stream, 0, 258);
  EXPECT_EQ(sock.lowat(), 258u);
  EXPECT_TRUE(sock.readable());
}

// Case 1: three frames; two in one skb, then the third.
TEST_P(UpstreamCases, Case1ThreeFramesTwoSends) {
  LoopbackSocket sock(desc8(), GetParam());
  auto stream = concat({desc8_frame(100, 150), desc8_frame(100, 150), desc8_frame(100, 150)});
  sock.send(stream, 0, 516);
  EXPECT_EQ(sock.lowat(), 516u);
  EXPECT_TRUE(sock.readable());
  sock.send(stream, 516, 258);
  EXPECT_EQ(sock.lowat(), 774u);
  EXPECT_TRUE(sock.readable());
}

// Case 2: a lone next descriptor must not hide the two complete frames before it.
TEST_P(UpstreamCases, Case2DescriptorAfterCompleteFrames) {
  LoopbackSocket sock(desc8(), GetParam());
  auto stream = concat({desc8_frame(100, 150), desc8_frame(100, 150), desc8_frame(100, 150)});
  sock.send(stream, 0, 516);
  EXPECT_EQ(sock.lowat(), 516u);
  sock.send(stream, 516, 8);
  EXPECT_EQ(sock.lowat(), 516u);
  EXPECT_TRUE(sock.readable());
}

// Case 3: descriptors and frames straddling skbs, then a read.
TEST_P(UpstreamCases, Case3StraddlingDescriptors) {
  LoopbackSocket sock(desc8(), GetParam());
  auto stream = concat({desc8_frame(100, 150), desc8_frame(200, 500)});
  sock.send(stream, 0, 1);
  EXPECT_FALSE(sock.readable());
  EXPECT_EQ(sock.lowat(), 8u);
  sock.send(stream, 1, 7);
  EXPECT_FALSE(sock.readable());
  EXPECT_EQ(sock.lowat(), 258u);
  sock.send(stream, 8, 100);
  EXPECT_FALSE(sock.readable());
  EXPECT_EQ(sock.lowat(), 258u);
  sock.send(stream, 108, 151);
  EXPECT_TRUE(sock.readable());
  EXPECT_EQ(sock.lowat(), 258u);
  sock.recv(258);
  EXPECT_FALSE(sock.readable());
  EXPECT_EQ(sock.lowat(), 8u);
  sock.send(stream, 259, 7);
  EXPECT_FALSE(sock.readable());
  EXPECT_EQ(sock.lowat(), 708u);
  EXPECT_FALSE(sock.verdict().disable);
}

// 0: plain; the others put the stream across the 2^32 sequence wrap.
INSTANTIATE_TEST_SUITE_P(SequenceStart, UpstreamCases,
                         ::testing::Values(0u, 0xffffff00u, 0xfffffff9u, 0x7fffff80u));

// A reader that drains the socket whenever it is readable must wake exactly once per
// frame (and once for an unframed preamble), for every preset, with skbs of any size.
void expect_one_wakeup_per_frame(const std::string& name, size_t skb_size, uint32_t isn) {
  SCOPED_TRACE(name + " skb " + std::to_string(skb_size) + " isn " + std::to_string(isn));
  const std::vector<uint64_t> payloads = {0, 1, 7, 300, 20, 1500, 3, 64};
  Framing framing;
  std::vector<uint8_t> stream = frames_of(name, payloads, &framing);
  // Frame ends from the sizes the generator was asked for, not from a parser.
  std::vector<uint64_t> ends;
  uint64_t end = framing.spec.preamble;
  for (uint64_t p : payloads) ends.push_back(end += framing.prefix_size() + (name == "dns-tcp" ? 12 : 0) + p);
  ASSERT_EQ(ends.back(), stream.size());
  std::vector<StreamArrival> arrivals;
  for (size_t off = 0; off < stream.size(); off += skb_size)
    arrivals.push_back({int64_t(off), std::min(off + skb_size, stream.size()), false});

  ReaderModelOptions options;
  options.isn = isn;
  ReaderPrediction p = predict_reader(framing.spec, stream, ends, arrivals, options);
  EXPECT_EQ(p.frames, payloads.size());
  EXPECT_EQ(p.stop_reason, 0u) << tracker_stop_reason_name(p.stop_reason);
  const uint64_t preamble_wakeups = framing.preamble.empty() ? 0 : 1;
  if (skb_size == 1) {
    // Every frame is read the moment its last byte lands, and nothing wakes earlier.
    EXPECT_EQ(p.wakeups, payloads.size() + preamble_wakeups);
    EXPECT_EQ(p.early_wakeups, preamble_wakeups);
    for (size_t i = 0; i < ends.size(); ++i) EXPECT_EQ(p.frame_done_ns[i], int64_t(ends[i] - 1));
  } else {
    EXPECT_LE(p.wakeups, payloads.size() + preamble_wakeups);
    EXPECT_LE(p.early_wakeups, preamble_wakeups);
  }
}

TEST(FrameTracker, ByteByByteEveryPresetWakesOncePerFrame) {
  for (const std::string& name : framing_preset_names()) {
    expect_one_wakeup_per_frame(name, 1, 0);
    expect_one_wakeup_per_frame(name, 1, 0xfffffff0u);
    expect_one_wakeup_per_frame(name, 5, 0);
    expect_one_wakeup_per_frame(name, 1448, 0xffffff00u);
  }
}

TEST(FrameTracker, ByteByByteDescriptorKeepsLowatAtDescriptorEnd) {
  FrameTrackerModel tracker(desc8(), 0);
  auto stream = desc8_frame(10, 20);
  for (uint32_t i = 0; i < 7; ++i) {
    TrackerVerdict v = tracker.on_skb(i, {stream.data() + i, 1}, false, 0);
    EXPECT_EQ(v.lowat, 8u) << "after descriptor byte " << i;
    EXPECT_EQ(v.descriptors, 0u);
  }
  TrackerVerdict v = tracker.on_skb(7, {stream.data() + 7, 1}, false, 0);
  EXPECT_EQ(v.descriptors, 1u);
  EXPECT_EQ(v.lowat, 38u);
}

TEST(FrameTracker, ManyFramesInOneSkb) {
  std::vector<uint8_t> stream;
  for (int i = 0; i < 60; ++i) {
    auto f = desc8_frame(uint32_t(i), 3);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  auto tail = desc8_frame(5, 1000);
  const size_t complete = stream.size();
  stream.insert(stream.end(), tail.begin(), tail.begin() + 100);

  FrameTrackerModel tracker(desc8(), 77);
  TrackerVerdict v = tracker.on_skb(77, stream, false, 77);
  EXPECT_EQ(v.descriptors, 61u);
  EXPECT_FALSE(v.disable);
  EXPECT_EQ(v.lowat, complete);  // wake for the 60 complete frames, not for the 61st
  v = tracker.on_read(77 + uint32_t(complete));
  EXPECT_EQ(v.lowat, 8u + 5 + 1000);
}

TEST(FrameTracker, ExactlyHundredDescriptorsInOneSkbStillTrack) {
  std::vector<uint8_t> stream;
  for (int i = 0; i < FT_MAX_DESCRIPTORS_PER_SKB; ++i) {
    auto f = desc8_frame(0, 1);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  FrameTrackerModel tracker(desc8(), 0);
  TrackerVerdict v = tracker.on_skb(0, stream, false, 0);
  EXPECT_FALSE(v.disable);
  EXPECT_EQ(v.descriptors, 100u);
  EXPECT_EQ(v.lowat, stream.size());
}

TEST(FrameTracker, TooManyDescriptorsInOneSkbDisables) {
  std::vector<uint8_t> stream;
  for (int i = 0; i < FT_MAX_DESCRIPTORS_PER_SKB + 1; ++i) {
    auto f = desc8_frame(0, 1);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  FrameTrackerModel tracker(desc8(), 0);
  TrackerVerdict v = tracker.on_skb(0, stream, false, 0);
  EXPECT_TRUE(v.disable);
  EXPECT_EQ(v.stop_reason, uint32_t(FT_STOP_TOO_MANY_DESCRIPTORS));
  EXPECT_EQ(v.lowat, 1u);
  // Stays off: later skbs and reads keep lowat at 1.
  auto more = desc8_frame(0, 100);
  v = tracker.on_skb(uint32_t(stream.size()), more, false, 0);
  EXPECT_TRUE(v.disable);
  EXPECT_EQ(v.lowat, 1u);
  EXPECT_EQ(tracker.on_read(5).lowat, 1u);
}

TEST(FrameTracker, FinDisablesAndDropsLowatToOne) {
  FrameTrackerModel tracker(desc8(), 0);
  auto stream = concat({desc8_frame(0, 10), desc8_frame(0, 500)});
  TrackerVerdict v = tracker.on_skb(0, {stream.data(), 30}, false, 0);
  EXPECT_EQ(v.lowat, 18u);
  EXPECT_FALSE(v.disable);
  // The peer closes mid-frame: the reader must get the tail and EOF now.
  v = tracker.on_skb(30, {stream.data() + 30, 10}, true, 0);
  EXPECT_TRUE(v.disable);
  EXPECT_EQ(v.stop_reason, uint32_t(FT_STOP_FIN));
  EXPECT_EQ(v.lowat, 1u);
}

TEST(FrameTracker, FrameLongerThanIntMaxDisables) {
  // kafka: 4-byte big-endian length not counting itself; 0x7ffffffc + 4 is INT_MAX,
  // one more is not.
  const Framing kafka = framing_preset("kafka");
  const uint8_t at_limit[4] = {0x7f, 0xff, 0xff, 0xfb};
  const uint8_t over[4] = {0x7f, 0xff, 0xff, 0xfc};
  FrameTrackerModel ok(kafka.spec, 0);
  TrackerVerdict v = ok.on_skb(0, at_limit, false, 0);
  EXPECT_FALSE(v.disable);
  EXPECT_EQ(v.lowat, 0x7fffffffu);
  FrameTrackerModel too_long(kafka.spec, 0);
  v = too_long.on_skb(0, over, false, 0);
  EXPECT_TRUE(v.disable);
  EXPECT_EQ(v.stop_reason, uint32_t(FT_STOP_FRAME_TOO_LONG));
  EXPECT_EQ(v.lowat, 1u);
  // desc8: two u32 fields whose sum overflows 32 bits must not wrap into a small frame.
  FrameTrackerModel desc(desc8(), 0);
  uint32_t fields[2] = {0xffffffffu, 0x10u};
  v = desc.on_skb(0, {reinterpret_cast<const uint8_t*>(fields), 8}, false, 0);
  EXPECT_EQ(v.stop_reason, uint32_t(FT_STOP_FRAME_TOO_LONG));
}

TEST(FrameTracker, MalformedDescriptorDisables) {
  const Framing mongodb = framing_preset("mongodb");  // length counts itself: 3 < 4
  const uint8_t bad[4] = {3, 0, 0, 0};
  FrameTrackerModel tracker(mongodb.spec, 0);
  TrackerVerdict v = tracker.on_skb(0, bad, false, 0);
  EXPECT_TRUE(v.disable);
  EXPECT_EQ(v.stop_reason, uint32_t(FT_STOP_MALFORMED_DESCRIPTOR));
}

// A retransmission overlapping bytes already queued (tcp_ofo_queue queues such skbs
// with their original seq) must be parsed from where the tracker stands.
TEST(FrameTracker, OverlappingSkbsParseEachByteOnce) {
  auto stream = concat({desc8_frame(10, 20), desc8_frame(3, 4), desc8_frame(0, 50)});
  FrameTrackerModel straight(desc8(), 1000);
  FrameTrackerModel overlapped(desc8(), 1000);
  straight.on_skb(1000, {stream.data(), 40}, false, 1000);
  TrackerVerdict a = straight.on_skb(1040, {stream.data() + 40, 20}, false, 1000);
  overlapped.on_skb(1000, {stream.data(), 40}, false, 1000);
  // Starts 25 bytes back, inside the first frame, and re-covers the second descriptor.
  TrackerVerdict b = overlapped.on_skb(1015, {stream.data() + 15, 45}, false, 1000);
  EXPECT_EQ(a.lowat, b.lowat);
  EXPECT_EQ(a.lowat, 38u + 15u);
  EXPECT_EQ(straight.desc_seq(), overlapped.desc_seq());
  // A pure duplicate changes nothing.
  TrackerVerdict c = overlapped.on_skb(1000, {stream.data(), 60}, false, 1000);
  EXPECT_EQ(c.lowat, b.lowat);
  EXPECT_EQ(c.descriptors, 0u);
}

// Segments A, C, B: the kernel holds C out of order and queues B then C back to back
// when B fills the hole; the hook sees them in sequence order with no read between.
TEST(FrameTracker, OutOfOrderDrainIsSeenInSequenceOrder) {
  auto stream = concat({desc8_frame(0, 100), desc8_frame(0, 100)});  // 108 + 108
  FrameTrackerModel tracker(desc8(), 0);
  TrackerVerdict v = tracker.on_skb(0, {stream.data(), 50}, false, 0);  // A
  EXPECT_EQ(v.lowat, 108u);
  // C (150..216) waits in the ofo queue: no hook call, no wake. B fills 50..150:
  v = tracker.on_skb(50, {stream.data() + 50, 100}, false, 0);  // B
  EXPECT_EQ(v.lowat, 108u);  // frame 1 complete and unread
  v = tracker.on_skb(150, {stream.data() + 150, 66}, false, 0);  // C, drained
  EXPECT_EQ(v.lowat, 216u);
  EXPECT_FALSE(v.disable);
  // The hook never sees C before B; if it did, the gap is detected, not misparsed.
  FrameTrackerModel wrong(desc8(), 0);
  wrong.on_skb(0, {stream.data(), 110}, false, 0);
  v = wrong.on_skb(150, {stream.data() + 150, 66}, false, 0);
  EXPECT_TRUE(v.disable);
  EXPECT_EQ(v.stop_reason, uint32_t(FT_STOP_SEQUENCE_GAP));
}

TEST(FrameTracker, PartialReadsKeepLowatToFrameEnd) {
  FrameTrackerModel tracker(desc8(), 0);
  auto stream = desc8_frame(0, 992);  // 1000 bytes
  TrackerVerdict v = tracker.on_skb(0, {stream.data(), 600}, false, 0);
  EXPECT_EQ(v.lowat, 1000u);
  v = tracker.on_read(500);  // the application read part of the frame anyway
  EXPECT_EQ(v.lowat, 500u);
  v = tracker.on_skb(600, {stream.data() + 600, 400}, false, 500);
  EXPECT_EQ(v.lowat, 500u);
  v = tracker.on_read(1000);
  EXPECT_EQ(v.lowat, 8u);
}

TEST(FrameTracker, PreambleIsReadBeforeTheFirstFrame) {
  Framing http2;
  std::vector<uint8_t> stream = frames_of("http2", {100}, &http2);
  ASSERT_EQ(http2.spec.preamble, 24u);
  FrameTrackerModel tracker(http2.spec, 0);
  TrackerVerdict v = tracker.on_skb(0, {stream.data(), 10}, false, 0);
  EXPECT_EQ(v.lowat, 24u);  // the connection preface
  v = tracker.on_skb(10, {stream.data() + 10, 20}, false, 0);
  EXPECT_EQ(v.lowat, 24u);
  v = tracker.on_read(30);
  EXPECT_EQ(v.lowat, 3u);  // the reader took 6 of the 9 descriptor bytes
}

TEST(FrameTracker, LowatCapOfTheKernelMakesHugeFramesWakeEarly) {
  // A 4 MB frame with lowat capped at 1 MB: the reader wakes before the frame is whole.
  Framing kafka;
  std::vector<uint8_t> stream = frames_of("kafka", {4u << 20}, &kafka);
  const std::vector<uint64_t> ends = {stream.size()};
  std::vector<StreamArrival> arrivals;
  for (size_t off = 0; off < stream.size(); off += 65536)
    arrivals.push_back({int64_t(off), std::min<uint64_t>(off + 65536, stream.size()), false});
  ReaderModelOptions capped;
  capped.read_size = 8u << 20;  // one recv takes everything queued
  capped.lowat_cap = 1u << 20;
  ReaderPrediction p = predict_reader(kafka.spec, stream, ends, arrivals, capped);
  EXPECT_EQ(p.frames, 1u);
  EXPECT_EQ(p.early_wakeups, 4u);  // every 1 MB, before the frame's last 4 bytes land
  ReaderModelOptions uncapped_options;
  uncapped_options.read_size = 8u << 20;
  ReaderPrediction uncapped = predict_reader(kafka.spec, stream, ends, arrivals, uncapped_options);
  EXPECT_EQ(uncapped.wakeups, 1u);
  EXPECT_EQ(uncapped.early_wakeups, 0u);
}

// The shared harness reads once per level-triggered wakeup: a frame larger than the
// read size costs more wakeups even when the hook wakes the reader only once.
TEST(FrameTracker, LevelTriggeredReaderPaysOneWakeupPerReadSize) {
  Framing kafka;
  std::vector<uint8_t> stream = frames_of("kafka", {100000}, &kafka);
  const std::vector<uint64_t> ends = {stream.size()};
  const std::vector<StreamArrival> arrivals = {{0, stream.size(), false}};
  ReaderModelOptions level;
  level.read_size = 65536;
  ReaderPrediction p = predict_reader(kafka.spec, stream, ends, arrivals, level);
  EXPECT_EQ(p.wakeups, 2u);
  EXPECT_EQ(p.recv_calls, 2u);
  EXPECT_EQ(p.early_wakeups, 1u);
  ReaderModelOptions edge = level;
  edge.edge_triggered = true;
  p = predict_reader(kafka.spec, stream, ends, arrivals, edge);
  EXPECT_EQ(p.wakeups, 1u);
  EXPECT_EQ(p.recv_calls, 3u);  // two with data, one EAGAIN
}

// The report's timeline draws the model's own wakeups: those of the frames after
// warm-up, stamped with the arrival that woke the reader, as the harness stamps its own.
TEST(FrameTracker, TimelineWakeupsAreThePredictedOnesOfTheWindowAfterWarmup) {
  Framing kafka;
  const std::vector<uint64_t> payloads = {100, 100, 100, 100, 100, 100};
  std::vector<uint8_t> stream = frames_of("kafka", payloads, &kafka);
  std::vector<uint64_t> ends;
  for (uint64_t e = 0, i = 0; i < payloads.size(); ++i) ends.push_back(e += stream.size() / payloads.size());
  ASSERT_EQ(ends.back(), stream.size());
  // Every frame in two skbs, 10 ns apart: the tracker wakes the reader once per frame,
  // at its second skb.
  std::vector<StreamArrival> arrivals;
  for (size_t f = 0; f < ends.size(); ++f) {
    const uint64_t start = f == 0 ? 0 : ends[f - 1];
    arrivals.push_back({int64_t(1000 * f), start + 10, false});
    arrivals.push_back({int64_t(1000 * f + 10), ends[f], false});
  }
  ReaderModelOptions options;
  options.measure_after_frames = 2;
  options.timeline_frames = 3;
  const ReaderPrediction p = predict_reader(kafka.spec, stream, ends, arrivals, options);
  EXPECT_EQ(p.wakeups, 4u);  // frames 2-5
  EXPECT_EQ(p.timeline_wakeup_ns, (std::vector<int64_t>{2010, 3010, 4010}));
  options.timeline_frames = 0;
  EXPECT_TRUE(predict_reader(kafka.spec, stream, ends, arrivals, options).timeline_wakeup_ns.empty());
}

}  // namespace
}  // namespace rcvq
