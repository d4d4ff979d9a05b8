// The frame tracker verified and run by this kernel (a tc program under
// BPF_PROG_TEST_RUN, fed crafted TCP packets), compared event by event with the
// userspace model built from the same header.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "framing/framing.hpp"
#include "receiver/autolowat_model.hpp"
#include "scenario/load.hpp"
#include "source/source_stream.hpp"

#define FT_LOAD_BYTES(reader, offset, dst, len) (-1)
#include "frame_tracker.h"
#include "tracker_testrun.skel.h"

namespace rcvq {
namespace {

enum TestrunEvent : uint32_t { kInit = 0, kSkb = 1, kRead = 2 };

// Ethernet + IPv4 + TCP (no options) around `payload`; the program reads seq, FIN and
// the payload from it exactly as a tc program sees a packet.
std::vector<uint8_t> tcp_packet(uint32_t seq, std::span<const uint8_t> payload, bool fin) {
  std::vector<uint8_t> p(14 + 20 + 20 + payload.size(), 0);
  p[12] = 0x08;  // ETH_P_IP
  uint8_t* ip = p.data() + 14;
  ip[0] = 0x45;
  const uint16_t tot_len = htons(uint16_t(20 + 20 + payload.size()));
  std::memcpy(ip + 2, &tot_len, 2);
  ip[8] = 64;
  ip[9] = 6;  // TCP
  const uint32_t src = htonl(0x0a000001), dst = htonl(0x0a000002);
  std::memcpy(ip + 12, &src, 4);
  std::memcpy(ip + 16, &dst, 4);
  uint8_t* tcp = ip + 20;
  const uint16_t sport = htons(40000), dport = htons(5000);
  std::memcpy(tcp, &sport, 2);
  std::memcpy(tcp + 2, &dport, 2);
  const uint32_t nseq = htonl(seq);
  std::memcpy(tcp + 4, &nseq, 4);
  tcp[12] = 5 << 4;                      // data offset
  tcp[13] = uint8_t(0x10 | (fin ? 0x01 : 0));  // ACK [+ FIN]
  std::memcpy(tcp + 20, payload.data(), payload.size());
  return p;
}

// The kernel side: one tracker_testrun program, its globals mapped into our memory.
class KernelTracker {
 public:
  KernelTracker() {
    skel_ = tracker_testrun__open();
    if (!skel_) throw std::runtime_error("tracker_testrun__open failed");
    int err = tracker_testrun__load(skel_);
    if (err) {
      tracker_testrun__destroy(skel_);
      throw std::runtime_error("the verifier refused tracker_testrun: " + std::to_string(err));
    }
  }
  // The spec is writable program data: one verified program serves every framing.
  void set_spec(const ft_spec& spec) { skel_->data->spec = spec; }
  ~KernelTracker() { tracker_testrun__destroy(skel_); }
  KernelTracker(const KernelTracker&) = delete;

  void init(uint32_t copied_seq) {
    skel_->bss->event = kInit;
    skel_->bss->copied_seq = copied_seq;
    run(tcp_packet(0, {}, false));
  }
  TrackerVerdict skb(uint32_t seq, std::span<const uint8_t> payload, bool fin, uint32_t copied) {
    skel_->bss->event = kSkb;
    skel_->bss->copied_seq = copied;
    run(tcp_packet(seq, payload, fin));
    EXPECT_EQ(skel_->bss->parse_error, 0);
    return verdict();
  }
  TrackerVerdict read(uint32_t copied) {
    skel_->bss->event = kRead;
    skel_->bss->copied_seq = copied;
    run(tcp_packet(0, {}, false));
    return verdict();
  }
  const ft_state& state() const { return skel_->bss->state; }

 private:
  void run(const std::vector<uint8_t>& packet) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(),
                .data_size_in = uint32_t(packet.size()), .repeat = 1);
    int err = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.tracker_testrun), &opts);
    ASSERT_EQ(err, 0) << "BPF_PROG_TEST_RUN: " << strerror(-err);
  }
  TrackerVerdict verdict() const {
    const ft_verdict& v = skel_->bss->verdict;
    return {v.lowat, v.disable != 0, v.stop_reason, v.descriptors};
  }
  tracker_testrun* skel_ = nullptr;
};

void expect_same(const TrackerVerdict& kernel, const TrackerVerdict& model, const ft_state& ks,
                 const ft_state& ms, const std::string& where) {
  SCOPED_TRACE(where);
  EXPECT_EQ(kernel.lowat, model.lowat);
  EXPECT_EQ(kernel.disable, model.disable);
  EXPECT_EQ(kernel.stop_reason, model.stop_reason);
  EXPECT_EQ(kernel.descriptors, model.descriptors);
  EXPECT_EQ(ks.desc_seq, ms.desc_seq);
  EXPECT_EQ(ks.partial_len, ms.partial_len);
  EXPECT_EQ(ks.flags, ms.flags);
  if (ms.flags & FT_HAVE_FRAME_LEN) {
    EXPECT_EQ(ks.frame_end_seq, ms.frame_end_seq);
  }
}

// Loading verifies the program: once for the whole suite.
KernelTracker& kernel_tracker() {
  static KernelTracker tracker;
  return tracker;
}

// Drives kernel and model through the same events.
class Twin {
 public:
  Twin(const ft_spec& spec, uint32_t copied) : kernel_(kernel_tracker()), model_(spec, copied) {
    kernel_.set_spec(spec);
    kernel_.init(copied);
  }
  TrackerVerdict skb(uint32_t seq, std::span<const uint8_t> payload, bool fin, uint32_t copied) {
    TrackerVerdict k = kernel_.skb(seq, payload, fin, copied);
    TrackerVerdict m = model_.on_skb(seq, payload, fin, copied);
    expect_same(k, m, kernel_.state(), model_.state(),
                "skb seq " + std::to_string(seq) + " len " + std::to_string(payload.size()));
    return k;
  }
  TrackerVerdict read(uint32_t copied) {
    TrackerVerdict k = kernel_.read(copied);
    TrackerVerdict m = model_.on_read(copied);
    expect_same(k, m, kernel_.state(), model_.state(), "read to " + std::to_string(copied));
    return k;
  }

 private:
  KernelTracker& kernel_;
  FrameTrackerModel model_;
};

std::vector<uint8_t> desc8_frames(std::initializer_list<std::pair<uint32_t, uint32_t>> frames) {
  std::vector<uint8_t> out;
  for (auto [header, payload] : frames) {
    const size_t at = out.size();
    out.resize(at + 8 + header + payload, 0x5a);
    std::memcpy(out.data() + at, &header, 4);
    std::memcpy(out.data() + at + 4, &payload, 4);
  }
  return out;
}

TEST(TrackerTestRun, VerifierAcceptsTheCoreAndUpstreamCase3Matches) {
  const Framing desc8 = framing_preset("desc8");
  for (uint32_t isn : {0u, 0xffffff00u}) {
    Twin t(desc8.spec, isn);
    auto s = desc8_frames({{100, 150}, {200, 500}});
    EXPECT_EQ(t.skb(isn, {s.data(), 1}, false, isn).lowat, 8u);
    EXPECT_EQ(t.skb(isn + 1, {s.data() + 1, 7}, false, isn).lowat, 258u);
    EXPECT_EQ(t.skb(isn + 8, {s.data() + 8, 100}, false, isn).lowat, 258u);
    EXPECT_EQ(t.skb(isn + 108, {s.data() + 108, 151}, false, isn).lowat, 258u);
    EXPECT_EQ(t.read(isn + 258).lowat, 8u);
    EXPECT_EQ(t.skb(isn + 259, {s.data() + 259, 7}, false, isn + 258).lowat, 708u);
  }
}

TEST(TrackerTestRun, DisableCasesMatch) {
  const Framing desc8 = framing_preset("desc8");
  {
    std::vector<uint8_t> many;
    for (int i = 0; i < FT_MAX_DESCRIPTORS_PER_SKB + 1; ++i) {
      auto f = desc8_frames({{0, 1}});
      many.insert(many.end(), f.begin(), f.end());
    }
    Twin t(desc8.spec, 5);
    TrackerVerdict v = t.skb(5, many, false, 5);
    EXPECT_TRUE(v.disable);
    EXPECT_EQ(v.stop_reason, uint32_t(FT_STOP_TOO_MANY_DESCRIPTORS));
  }
  {
    Twin t(desc8.spec, 0);
    uint32_t huge[2] = {0x40000000u, 0x40000000u};
    TrackerVerdict v = t.skb(0, {reinterpret_cast<uint8_t*>(huge), 8}, false, 0);
    EXPECT_EQ(v.stop_reason, uint32_t(FT_STOP_FRAME_TOO_LONG));
  }
  {
    Twin t(desc8.spec, 0);
    auto s = desc8_frames({{10, 10}, {10, 10}});
    t.skb(0, {s.data(), 20}, false, 0);
    TrackerVerdict v = t.skb(20, {s.data() + 20, 10}, true, 0);
    EXPECT_EQ(v.stop_reason, uint32_t(FT_STOP_FIN));
    EXPECT_EQ(v.lowat, 1u);
  }
}

// Random streams in every preset, cut into random skbs (some overlapping what came
// before, as retransmissions queued from the out-of-order queue are), random reads,
// random sequence starts, a FIN at the end: kernel and model agree on every event.
TEST(TrackerTestRun, RandomStreamsMatchTheModelForEveryPreset) {
  std::mt19937_64 rng(20260523);
  for (const std::string& name : framing_preset_names()) {
    SCOPED_TRACE(name);
    Scenario sc = parse_scenario(
        "framing: " + name + "\nsource:\n  synthetic:\n    frames: 40\n    header: " +
            (name == "dns-tcp" ? std::string("12") : std::string("{min: 0, max: 40}")) +
            "\n    payload: {min: 0, max: 900}\n    seed: 3\n",
        "tracker_testrun.yaml");
    SourceStream src = generate_synthetic(sc);
    const std::vector<uint8_t>& stream = src.bytes;
    const uint32_t isn = uint32_t(rng());
    Twin t(sc.framing.spec, isn);
    uint64_t queued = 0, copied = 0, events = 0;
    ASSERT_GT(stream.size(), 40u * sc.framing.prefix_size());
    while (queued < stream.size()) {
      ++events;
      uint64_t len = std::min<uint64_t>(1 + rng() % 1400, stream.size() - queued);
      uint64_t from = queued;
      if (rng() % 5 == 0) from -= std::min<uint64_t>(queued - copied, rng() % 64);  // overlap
      const uint64_t end = queued + len;
      const bool fin = end == stream.size();
      t.skb(isn + uint32_t(from), {stream.data() + from, end - from}, fin, isn + uint32_t(copied));
      queued = end;
      if (rng() % 3 == 0) {
        copied += (queued - copied) * (rng() % 5) / 4;
        t.read(isn + uint32_t(copied));
      }
      if (HasFailure()) return;
    }
    EXPECT_GE(events, 10u);
  }
}

}  // namespace
}  // namespace rcvq
