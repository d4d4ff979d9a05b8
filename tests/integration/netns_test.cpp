#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "integration/in_memory_run.hpp"
#include "scenario/load.hpp"
#include "transport/netns.hpp"
#include "transport/network.hpp"

namespace rcvq {
namespace {

ino_t netns_inode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

TEST(Netns, GuardEntersAndLeavesAnAnonymousNamespace) {
  const ino_t host = netns_inode("/proc/thread-self/ns/net");
  Netns ns = Netns::create();
  {
    NetnsGuard inside(ns);
    EXPECT_NE(netns_inode("/proc/thread-self/ns/net"), host);
  }
  EXPECT_EQ(netns_inode("/proc/thread-self/ns/net"), host);
}

TEST(Netns, CommandsRunInsideAndFailuresCarryTheirOutput) {
  Netns ns = Netns::create();
  ns.run({"ip", "link", "add", "rqtest0", "type", "veth", "peer", "name", "rqtest1"});
  // The device exists only in the tool's namespace, never on the host.
  EXPECT_NE(access("/sys/class/net/rqtest0", F_OK), 0);
  try {
    ns.run({"ip", "link", "add", "rqtest0", "type", "veth", "peer", "name", "rqtest2"});
    FAIL() << "adding the same device twice must fail";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("exists"), std::string::npos) << e.what();
  }
}

// A fresh veth pair carries IPv6 from its first connect. The first SYN used to be
// dropped (Ip6InNoRoutes) before linkwatch had taken the receiver end up, which it put
// off for up to a second because both ends had index 2, and connect()'s 200 ms ran out.
TEST(Netns, FreshVethPairsCarryIpv6FromTheFirstConnect) {
  const Scenario sc = parse_scenario("name: veth6\n"
                                     "source: {synthetic: {frames: 20, payload: 1000}}\n"
                                     "segmentation: {cut: {chunks: 2}, frame_gap_us: 500}\n"
                                     "transport: {kind: veth, ipv6: true}\n"
                                     "receiver: {modes: [baseline]}\n"
                                     "run: {repetitions: 1}\n",
                                     "veth6.yaml");
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<Network> net = make_network(sc);
    const Endpoint ep = net->listen_endpoint();
    int listener = -1;
    {
      NetnsGuard inside(net->receiver_netns());
      listener = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    ASSERT_GE(listener, 0);
    ASSERT_EQ(bind(listener, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len), 0);
    ASSERT_EQ(listen(listener, 4), 0);
    EXPECT_NO_THROW(net->make_replayer(sc)->connect(1)) << "fresh pair " << attempt;
    close(listener);
  }
  const RunOutcome outcome = run_in_memory(sc);
  ASSERT_EQ(outcome.result.modes.size(), 1u);
  const ModeResult& baseline = outcome.result.modes[0];
  ASSERT_EQ(baseline.status, "ok") << baseline.reason;
  ASSERT_EQ(baseline.repetitions.size(), 1u);
  EXPECT_TRUE(baseline.repetitions[0].integrity_ok) << baseline.repetitions[0].integrity_detail;
  EXPECT_EQ(outcome.result.transport["address"], "[2001:2::2]:5001");
}

// A reference tool (iperf3 in tools/bench-replay) connects from where the replayer
// does: on veth the peer namespace, so its traffic crosses the veth pair (from the
// sender's address), on loopback the one namespace.
TEST(Netns, SenderNamespaceIsWhereTheReplayerConnectsFrom) {
  for (const char* kind : {"loopback", "veth"}) {
    SCOPED_TRACE(kind);
    const Scenario sc = parse_scenario(std::string("transport: {kind: ") + kind + "}\n", "sender.yaml");
    std::unique_ptr<Network> net = make_network(sc);
    ASSERT_NE(net->sender_netns(), nullptr);
    const Endpoint ep = net->listen_endpoint();
    int listener, client;
    {
      NetnsGuard inside(net->receiver_netns());
      listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    ASSERT_EQ(bind(listener, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len), 0);
    ASSERT_EQ(listen(listener, 4), 0);
    {
      NetnsGuard inside(*net->sender_netns());
      client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    EXPECT_EQ(connect(client, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len), 0) << std::strerror(errno);
    sockaddr_in local{};
    socklen_t len = sizeof local;
    ASSERT_EQ(getsockname(client, reinterpret_cast<sockaddr*>(&local), &len), 0);
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &local.sin_addr, text, sizeof text);
    EXPECT_EQ(std::string(text), std::string(kind) == "veth" ? "198.18.0.1" : "127.0.0.1");
    close(client);
    close(listener);
  }
}

}  // namespace
}  // namespace rcvq
