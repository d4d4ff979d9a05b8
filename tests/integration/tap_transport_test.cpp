// The tap transport end to end with a plain kernel listener in the receiver namespace:
// handshake (ARP/ND, TFO), exact segments, header/data split, GRO, reorder, duplicates,
// overlaps, drop-and-retransmit, flow control. Each path is proven by the receiving
// namespace's own MIB counters and the tc probe, and every byte must arrive intact.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <thread>

#include "common/clock.hpp"
#include "plan/plan.hpp"
#include "scenario/load.hpp"
#include "source/source_stream.hpp"
#include "transport/tap/netstat.hpp"
#include "transport/tap/tap_network.hpp"

namespace rcvq {
namespace {

struct TapRun {
  bool intact = false;
  uint64_t received = 0, expected = 0;
  nlohmann::json stats;
  tap::NetstatCounters mib;  // receiver namespace, delta over the run
  nlohmann::json described;
};

// Replays `yaml` (a tap scenario) on one connection into a listener that reads every
// byte, starting to read only after `read_delay_ms`.
TapRun run_tap(const std::string& yaml, int read_delay_ms = 0, int rcvbuf = 0) {
  const Scenario sc = parse_scenario(yaml, "tap_test.yaml");
  const ReplayPlan plan = build_plan(sc, load_source(sc));
  std::unique_ptr<Network> net = make_tap_network(sc);
  TapRun run;
  run.described = net->describe();
  const Endpoint ep = net->listen_endpoint();
  int listener;
  {
    NetnsGuard inside(net->receiver_netns());
    listener = socket(ep.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  }
  if (rcvbuf) setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  EXPECT_EQ(bind(listener, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len), 0) << strerror(errno);
  EXPECT_EQ(listen(listener, 16), 0);
  const tap::NetstatCounters before = tap::read_netstat(net->receiver_netns());
  std::unique_ptr<Replayer> replayer = net->make_replayer(sc);
  replayer->connect(1);
  pollfd pfd{listener, POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 5000), 1);
  const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_GE(fd, 0);
  std::vector<uint8_t> got;
  std::thread reader([&] {
    if (read_delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(read_delay_ms));
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint8_t buf[65536];
    for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) got.insert(got.end(), buf, buf + n);
  });
  std::vector<int64_t> sent;
  const StopSignal stop;
  replayer->replay(plan, monotonic_ns() + 1'000'000, sent, stop);
  replayer->finish();
  reader.join();
  close(fd);
  close(listener);
  run.mib = tap::netstat_delta(before, tap::read_netstat(net->receiver_netns()));
  run.stats = replayer->stats();
  run.expected = plan.stream.size();
  run.received = got.size();
  run.intact = got == plan.stream;
  return run;
}

std::string scenario(const std::string& transport, const std::string& segmentation, uint64_t frames = 50,
                     uint64_t payload = 3992) {
  return fmt::format(R"(
source: {{synthetic: {{frames: {}, payload: {}}}}}
segmentation:
{}
transport: {{kind: tap, {}}}
run: {{timeout_s: 10}}
)", frames, payload, segmentation, transport);
}

uint64_t counter(const TapRun& r, const std::string& name) {
  auto it = r.mib.find(name);
  return it == r.mib.end() ? 0 : it->second;
}

TEST(TapTransport, HandshakeAndInOrderSegmentsArriveExactlyAsPlanned) {
  const TapRun r = run_tap(scenario("gro: false", "  cut: {chunks: 4}\n  chunk_gap_us: 20"));
  ASSERT_TRUE(r.intact) << r.received << " of " << r.expected << " bytes";
  EXPECT_GE(r.stats["arp_replies"].get<uint64_t>(), 1u) << "the receiver had to resolve the peer";
  // 50 frames x 4 chunks of 1000 B, none above the MSS: 200 data packets, 200 skbs.
  EXPECT_EQ(r.stats["data_packets_sent"].get<uint64_t>(), 200u);
  EXPECT_EQ(r.stats["skb_layout"]["data_skbs"].get<uint64_t>(), 200u) << r.stats.dump();
  EXPECT_EQ(r.stats["skb_layout"]["gro_merged_skbs"].get<uint64_t>(), 0u);
  EXPECT_EQ(counter(r, "TcpExtTCPOFOQueue"), 0u);
  EXPECT_EQ(r.stats["recovery_retransmits"].get<uint64_t>(), 0u);
  EXPECT_EQ(r.stats["bad_checksums_received"].get<uint64_t>(), 0u);
  EXPECT_FALSE(r.described["napi_frags"].is_null());
}

TEST(TapTransport, Ipv6UsesNeighborDiscovery) {
  const TapRun r = run_tap(scenario("ipv6: true", "  cut: {chunks: 2}"), 0);
  ASSERT_TRUE(r.intact) << r.received << " of " << r.expected << " bytes";
  EXPECT_GE(r.stats["nd_replies"].get<uint64_t>(), 1u);
  EXPECT_EQ(r.stats["arp_replies"].get<uint64_t>(), 0u);
}

class TapHds : public ::testing::TestWithParam<bool> {};

TEST_P(TapHds, PayloadSitsWhereTheSettingPutsItUnderReorderDuplicatesAndOverlaps) {
  const bool hds = GetParam();
  const TapRun r = run_tap(scenario(fmt::format("hds: {}", hds),
                                    "  cut: {chunks: 4}\n"
                                    "  effects:\n"
                                    "    reorder: {every: 7, by: 2}\n"
                                    "    duplicate: {every: 11}\n"
                                    "    overlap: {every: 13, bytes: 300}\n"));
  ASSERT_TRUE(r.intact) << r.received << " of " << r.expected << " bytes";
  const auto& layout = r.stats["skb_layout"];
  ASSERT_TRUE(layout.is_object()) << r.stats.dump();
  EXPECT_TRUE(r.stats["hds"]["verified"].get<bool>()) << layout.dump();
  if (hds) {
    EXPECT_EQ(layout["payload_in_frags"], layout["data_skbs"]);
    EXPECT_EQ(layout["linear_payload_bytes"].get<uint64_t>(), 0u);
  } else {
    EXPECT_EQ(layout["payload_linear"], layout["data_skbs"]);
    EXPECT_EQ(layout["payload_in_frags"].get<uint64_t>(), 0u);
  }
  EXPECT_GT(counter(r, "TcpExtTCPOFOQueue"), 0u) << "held-back segments must go through the OFO queue";
  EXPECT_GT(counter(r, "TcpExtTCPDSACKOldSent"), 0u) << "duplicates and overlaps must be reported as DSACK";
}

INSTANTIATE_TEST_SUITE_P(HdsOffAndOn, TapHds, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "hds_on" : "hds_off"; });

TEST(TapTransport, DroppedSegmentIsRetransmittedAfterTheDelay) {
  const TapRun r = run_tap(scenario("hds: true",
                                    "  cut: {chunks: 4}\n  chunk_gap_us: 50\n"
                                    "  effects:\n    drop: {every: 10, retransmit_after_us: 400}\n"));
  ASSERT_TRUE(r.intact) << r.received << " of " << r.expected << " bytes";
  EXPECT_EQ(r.stats["planned_drops_skipped"].get<uint64_t>(), 20u);
  EXPECT_GT(counter(r, "TcpExtTCPOFOQueue"), 0u);
  EXPECT_EQ(r.stats["recovery_retransmits"].get<uint64_t>(), 0u) << "the plan's retransmission fills every hole";
}

TEST(TapTransport, FastOpenDeliversTheFirstSegmentInTheSyn) {
  const TapRun r = run_tap(scenario("tfo: true", "  cut: {chunks: 4}"));
  ASSERT_TRUE(r.intact) << r.received << " of " << r.expected << " bytes";
  EXPECT_EQ(counter(r, "TcpExtTCPFastOpenPassive"), 1u);
  EXPECT_EQ(r.stats["tfo"]["connections_accepted"].get<uint64_t>(), 1u);
  EXPECT_EQ(r.stats["tfo"]["syn_data_bytes"].get<uint64_t>(), 1000u);
}

TEST(TapTransport, GroSettingIsAppliedAndSkbCountsAreReported) {
  // 4000-byte frames leave as 1460 + 1460 + 1080 back to back, PSH only on the last.
  // Every TAP write is its own NAPI cycle (napi_gro_frags then napi_complete), so GRO
  // flushes after each packet and has nothing to merge: one skb per wire packet even
  // with GRO on. The counts prove it rather than assume it.
  const std::string cut = "  cut: whole\n  frame_gap_us: 200";
  const TapRun off = run_tap(scenario("gro: false", cut));
  const TapRun on = run_tap(scenario("gro: true", cut));
  ASSERT_TRUE(off.intact);
  ASSERT_TRUE(on.intact);
  EXPECT_EQ(off.described["gro"], false);
  EXPECT_EQ(on.described["gro"], true);
  EXPECT_EQ(off.stats["skb_layout"]["data_skbs"].get<uint64_t>(), 150u);
  EXPECT_EQ(off.stats["skb_layout"]["gro_merged_skbs"].get<uint64_t>(), 0u);
  EXPECT_EQ(on.stats["skb_layout"]["wire_segments"].get<uint64_t>(), 150u) << on.stats["skb_layout"].dump();
  EXPECT_LE(on.stats["skb_layout"]["data_skbs"].get<uint64_t>(), 150u);
}

TEST(TapTransport, NeverSendsPastTheWindowOfASlowReader) {
  // 400 KB at full speed into a 32 KB receive buffer that is read only after 300 ms.
  const TapRun r = run_tap(scenario("gro: false", "  cut: {chunks: 4}", 100), 300, 32768);
  ASSERT_TRUE(r.intact) << r.received << " of " << r.expected << " bytes";
  EXPECT_GT(r.stats["window_waits"].get<uint64_t>(), 0u);
  EXPECT_EQ(counter(r, "TcpExtTCPZeroWindowDrop"), 0u) << "a segment beyond the window was sent: " << r.stats.dump();
  // In-window data may still be dropped when the receiver runs short of memory
  // (TcpExtTCPRcvQDrop); the peer's recovery resends it, and integrity above proves it.
}

}  // namespace
}  // namespace rcvq
