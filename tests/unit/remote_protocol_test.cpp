#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "common/fd.hpp"
#include "remote/client.hpp"
#include "remote/nic.hpp"
#include "remote/protocol.hpp"
#include "scenario/load.hpp"
#include "source/source_stream.hpp"

namespace rcvq::remote {
namespace {

struct SocketPair {
  Fd a, b;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    a = Fd(fds[0]);
    b = Fd(fds[1]);
  }
};

TEST(RemoteProtocol, MessagesArriveWholeAndInOrderAcrossLargeBodies) {
  SocketPair pair;
  Channel left(pair.a.get(), pair.a.get(), "left"), right(pair.b.get(), pair.b.get(), "right");
  const std::string big(3 << 20, 'x');  // beyond a socket buffer: written while read
  std::thread writer([&] {
    left.send({{"type", "one"}, {"body", big}});
    left.send({{"type", "two"}});
  });
  EXPECT_EQ(right.expect("one", 5000, "reading one")["body"], big);
  EXPECT_EQ(right.expect("two", 5000, "reading two")["type"], "two");
  writer.join();
}

TEST(RemoteProtocol, EveryStepHasATimeoutThatNamesIt) {
  SocketPair pair;
  Channel waiting(pair.a.get(), pair.a.get(), "the agent");
  try {
    waiting.receive(50, "waiting for the hello");
    FAIL() << "nothing was sent";
  } catch (const ChannelError& e) {
    EXPECT_NE(std::string(e.what()).find("no answer from the agent within 0.1 s while waiting for the hello"),
              std::string::npos)
        << e.what();
  }
}

TEST(RemoteProtocol, PeerErrorsAndClosedConnectionsAreTold) {
  SocketPair pair;
  Channel a(pair.a.get(), pair.a.get(), "client"), b(pair.b.get(), pair.b.get(), "the agent");
  a.send(error_message("busy: try later"));
  try {
    b.expect("hello", 1000, "waiting for the hello");
    FAIL();
  } catch (const PeerError& e) {
    EXPECT_STREQ(e.what(), "busy: try later");
  }
  pair.a = Fd();
  EXPECT_THROW(b.receive(1000, "reading"), ChannelError);
}

TEST(RemoteProtocol, AnOversizedOrForeignMessageIsRefused) {
  SocketPair pair;
  Channel b(pair.b.get(), pair.b.get(), "the agent");
  const char not_ours[] = "SSH-2.0-OpenSSH_9.2\r\n";  // what a port of sshd says
  ASSERT_EQ(write(pair.a.get(), not_ours, sizeof not_ours - 1), ssize_t(sizeof not_ours - 1));
  EXPECT_THROW(b.receive(1000, "waiting for the hello"), ChannelError);
}

TEST(RemoteProtocol, Base64RoundTripsEveryLength) {
  std::vector<uint8_t> bytes;
  for (int n = 0; n < 40; ++n) {
    EXPECT_EQ(base64_decode(base64_encode(bytes.data(), bytes.size())), bytes) << n;
    bytes.push_back(uint8_t(n * 37 + 1));
  }
  EXPECT_EQ(base64_encode(reinterpret_cast<const uint8_t*>("foobar"), 6), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(reinterpret_cast<const uint8_t*>("fo"), 2), "Zm8=");
  EXPECT_THROW(base64_decode("Zm9"), ChannelError);
  EXPECT_THROW(base64_decode("Zm=v"), ChannelError);
}

TEST(RemoteProtocol, APlanAndARepetitionSurviveTheWire) {
  const Scenario sc = parse_scenario("name: wire\nsource: {synthetic: {frames: 30, payload: 700}}\n"
                                     "segmentation: {cut: {chunks: 3}}\nrun: {warmup_frames: 2}\n",
                                     "wire.yaml");
  const ReplayPlan plan = build_plan(sc, load_source(sc));
  const ReplayPlan back = plan_from_json(json::parse(plan_to_json(plan).dump()));
  EXPECT_EQ(back.stream, plan.stream);
  ASSERT_EQ(back.segments.size(), plan.segments.size());
  ASSERT_EQ(back.frames.size(), plan.frames.size());
  EXPECT_EQ(back.segments.back().send_at_ns, plan.segments.back().send_at_ns);
  EXPECT_EQ(back.frames.back().last_segment, plan.frames.back().last_segment);
  EXPECT_EQ(back.warmup_frames, 2u);

  ModeRepetition rep;
  rep.frames = 28;
  rep.counters.wakeups = 55;
  rep.counters.other_syscalls = 3;
  rep.kernel_data_ready = Measured::of(84);
  rep.cpu_us = Measured::missing("no perf");
  for (int64_t v : {1000, 2000, 5000, 1'000'000}) rep.latency.record(v);
  rep.integrity_ok = true;
  rep.extra = {{"mode", "thing"}};
  rep.timeline.frames.push_back({2, 100, 250});
  const ModeRepetition got = repetition_from_json(json::parse(repetition_to_json(rep).dump()));
  EXPECT_EQ(repetition_json(got).dump(), repetition_json(rep).dump());
  EXPECT_EQ(got.latency.max(), 1'000'000);
  EXPECT_EQ(got.latency.value_at_percentile(50), rep.latency.value_at_percentile(50));
}

TEST(RemoteProtocol, TheReceiverScenarioCarriesNoFileAndRefusesOne) {
  const Scenario sc = parse_scenario("name: rs\nsource: {synthetic: {frames: 3}}\nframing: http2\n"
                                     "receiver: {modes: [baseline, strparser], connections: 2, epoll: edge}\n",
                                     "rs.yaml");
  json j = receiver_scenario_to_json(sc);
  const Scenario back = receiver_scenario_from_json(j);
  EXPECT_EQ(back.framing.name, "http2");
  EXPECT_EQ(back.framing.preamble, sc.framing.preamble);
  EXPECT_EQ(back.framing.preamble_rule, sc.framing.preamble_rule);
  EXPECT_EQ(back.framing.valid_prefix, sc.framing.valid_prefix);
  EXPECT_EQ(back.framing.spec.prefix_size, sc.framing.spec.prefix_size);
  EXPECT_EQ(back.receiver.connections, 2u);
  EXPECT_TRUE(back.receiver.edge_triggered);
  j["source"] = {{"capture", {{"path", "/etc/shadow"}}}};
  try {
    receiver_scenario_from_json(j);
    FAIL() << "a field naming a file must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'source'"), std::string::npos) << e.what();
  }
}

// Same clock on both ends (one host): the exchange's bound must hold the true offset, 0.
TEST(RemoteClock, TheMinimumRoundTripSampleBoundsTheOffset) {
  std::vector<ClockSample> samples = {{100, 400, 420, 900}, {1000, 1010, 1020, 1040}, {2000, 2500, 2510, 2600}};
  const ClockSample best = best_clock_sample(samples);
  EXPECT_EQ(best.t1, 1000);
  EXPECT_EQ(best.round_trip_ns(), 30);
  EXPECT_EQ(best.offset_ns(), -5);
  EXPECT_LE(std::abs(best.offset_ns()), best.uncertainty_ns());
  // An agent clock 1 s ahead over a symmetric 10 ns path each way.
  const ClockSample ahead{0, 1'000'000'010, 1'000'000'015, 25};
  EXPECT_EQ(ahead.offset_ns(), 1'000'000'000);
  EXPECT_EQ(ahead.uncertainty_ns(), 10);
}

TEST(RemoteClock, LatencyIsUnavailableOnlyWhenTheClockErrorExceedsIt) {
  EXPECT_EQ(latency_unavailable_reason(20'000, 50'000), "");
  const std::string why = latency_unavailable_reason(80'000, 50'000);
  EXPECT_NE(why.find("+-80.0 us"), std::string::npos) << why;
  EXPECT_NE(why.find("50.0 us"), std::string::npos) << why;
  ModeRepetition rep;
  rep.frames = 10;
  rep.latency_unavailable = why;
  const json metrics = repetition_json(rep);
  EXPECT_TRUE(metrics["latency_ns"].is_null());
  EXPECT_EQ(metrics["unavailable"]["latency_ns"], why);
}

TEST(RemoteAddress, SshAndTcpUrlsParseAndBadOnesAreNamed) {
  const AgentAddress a = AgentAddress::parse("ssh://root@198.18.9.2:2222");
  EXPECT_EQ(a.kind, AgentAddress::Kind::Ssh);
  EXPECT_EQ(a.user, "root");
  EXPECT_EQ(a.host, "198.18.9.2");
  EXPECT_EQ(a.port, 2222);
  const AgentAddress b = AgentAddress::parse("ssh://[2001:db8::2]");
  EXPECT_EQ(b.host, "2001:db8::2");
  EXPECT_EQ(b.port, 0);
  EXPECT_EQ(AgentAddress::parse("tcp://rx.example:7000").kind, AgentAddress::Kind::Tcp);
  for (const char* bad : {"rx.example", "ssh://", "ssh://host:0", "ssh://host:", "tcp://host", "tcp://u@h:1",
                          "ssh://-oProxyCommand=x"})
    EXPECT_THROW(AgentAddress::parse(bad), InputError) << bad;
}

TEST(RemoteNic, EthtoolOutputGivesOffloadsAndDataSplit) {
  const json k = offload_features(
      "Features for eth0:\ngeneric-receive-offload: on\nlarge-receive-offload: off [fixed]\nrx-gro-hw: on\n");
  EXPECT_EQ(k["gro"], true);
  EXPECT_EQ(k["lro"], false);
  EXPECT_EQ(k["lro_fixed"], true);
  EXPECT_EQ(k["hw_gro"], true);
  EXPECT_EQ(tcp_data_split("Ring parameters for eth0:\nPre-set maximums:\nRX:\t8192\nTCP data split:\tn/a\n"
                           "Current hardware settings:\nRX:\t1024\nTCP data split:\ton\n"),
            "on");
  EXPECT_TRUE(tcp_data_split("Ring parameters for veth0:\nRX:\t256\n").is_null());
}

TEST(RemoteScenario, TransportKindRemoteTakesHostAndDeviceOnly) {
  const Scenario sc = parse_scenario("name: r\nsource: {synthetic: {frames: 3}}\n"
                                     "transport: {kind: remote, host: 'ssh://rx', device: eth1}\n",
                                     "r.yaml");
  EXPECT_EQ(sc.transport.kind, Transport::Kind::Remote);
  EXPECT_EQ(sc.transport.remote_host, "ssh://rx");
  EXPECT_EQ(sc.transport.remote_device, "eth1");
  EXPECT_THROW(parse_scenario("name: r\ntransport: {kind: veth, host: x}\n", "r.yaml"), InputError);
  EXPECT_THROW(parse_scenario("name: r\ntransport: {kind: remote, mtu: 9000}\n", "r.yaml"), InputError);
}

}  // namespace
}  // namespace rcvq::remote
