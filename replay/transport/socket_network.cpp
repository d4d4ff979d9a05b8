// Kernel-socket transports: loopback inside one private namespace, or a veth pair
// joining two. The replayer is an ordinary TCP client whose sends are paced so each
// planned chunk leaves as its own segment.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/clock.hpp"
#include "common/errors.hpp"
#include "plan/streamed_plan.hpp"
#include "transport/network.hpp"
#include "transport/tap/tap_network.hpp"

namespace rcvq {
namespace {

constexpr uint16_t kListenPort = 5001;
// Benchmarking ranges (RFC 2544, RFC 5180): never routed, and only ever configured
// inside namespaces this tool created.
constexpr const char* kSenderV4 = "198.18.0.1";
constexpr const char* kReceiverV4 = "198.18.0.2";
constexpr const char* kSenderV6 = "2001:2::1";
constexpr const char* kReceiverV6 = "2001:2::2";

// A veth end is operationally up only once linkwatch has processed its carrier, a
// moment after `ip link set up` returns; until then IPv6 drops what arrives on it
// (Ip6InNoRoutes), so a first SYN sent at once was lost and connect()'s 200 ms ran out.
constexpr int64_t kLinkUpTimeoutNs = 5'000'000'000;

void wait_until_running(const Netns& ns, const char* dev) {
  int fd;
  {
    NetnsGuard inside(ns);
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) throw_errno("socket for SIOCGIFFLAGS");
  ifreq request{};
  std::strncpy(request.ifr_name, dev, IFNAMSIZ - 1);
  const int64_t deadline = monotonic_ns() + kLinkUpTimeoutNs;
  for (;;) {
    if (ioctl(fd, SIOCGIFFLAGS, &request) != 0) {
      close(fd);
      throw_errno(fmt::format("SIOCGIFFLAGS {}", dev));
    }
    if (request.ifr_flags & IFF_RUNNING) break;
    if (monotonic_ns() > deadline) {
      close(fd);
      throw RunError(fmt::format("{} was not running {} s after it was set up", dev, kLinkUpTimeoutNs / 1'000'000'000));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  close(fd);
}

// Every repetition opens all its connections anew from one address to one port, and
// each connection the sender closed first holds its ephemeral port in TIME_WAIT for 60 s:
// with the default 28,232 ports, 10,000 connections would run out in the third
// repetition. The whole range, and reusing TIME_WAIT ports for new connections (safe
// here: timestamps are on, and the peer is our own listener), lift that.
void widen_ephemeral_ports(const Netns& sender) {
  sender.set_sysctl("net/ipv4/ip_local_port_range", "1024 65535");
  sender.set_sysctl("net/ipv4/tcp_tw_reuse", "1");
}

class SocketReplayer : public Replayer {
 public:
  // A handshake between our own namespaces takes microseconds: 200 ms bounds connect()
  // against a lost SYN, and a stop request waits no longer. Across hosts a lost SYN is
  // sent again after 1 s, so they need more.
  SocketReplayer(const Netns& ns, Endpoint target, const Segmentation& seg, int connect_timeout_ms = 200)
      : ns_(ns), target_(std::move(target)), seg_(seg), connect_timeout_ms_(connect_timeout_ms) {}
  ~SocketReplayer() override { close_descriptors(); }

  void close_descriptors() override {
    for (int fd : fds_) close(fd);
    fds_.clear();
  }

  void connect(uint32_t connections) override {
    NetnsGuard inside(ns_);
    for (uint32_t i = 0; i < connections; ++i) {
      int fd = socket(target_.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) throw_errno("sender socket");
      fds_.push_back(fd);
      int one = 1;
      if (seg_.nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        throw_errno("TCP_NODELAY");
      if (seg_.mss) {
        int mss = int(seg_.mss);
        if (setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss) != 0) throw_errno("TCP_MAXSEG");
      }
      timeval tv{connect_timeout_ms_ / 1000, (connect_timeout_ms_ % 1000) * 1000};
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&target_.addr), target_.len) != 0)
        throw_errno("connect to " + target_.text);
    }
  }

  void replay(const ReplayPlan& plan, int64_t t0_ns, std::vector<int64_t>& sent_ns,
              const StopSignal& stop) override {
    // Default timer slack (50 us) would show up as pacing error in every latency.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    StoppableSleep sleep(stop);
    sent_ns.assign(plan.segments.size(), 0);
    for (size_t i = 0; i < plan.segments.size(); ++i) {
      const PlannedSegment& seg = plan.segments[i];
      // A send that is due or late makes no sleep syscall, and reads the clock once.
      const std::optional<int64_t> due = sleep.precisely_until(t0_ns + seg.send_at_ns);
      if (!due) return;
      sent_ns[i] = *due;
      for (int fd : fds_)
        if (!send_all(fd, plan.stream.data() + seg.offset, seg.length, stop)) return;
    }
  }

  void replay_streamed(const ReplayPlan& plan, int64_t t0_ns, FrameSendRing& ring, StreamedSendRecord& record,
                       const StopSignal& stop) override {
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    StoppableSleep sleep(stop);
    const StreamedPlan& streamed = *plan.streamed;
    const PlanExcerpt& shown = streamed.timeline;
    record.timeline_sent_ns.assign(shown.segments.size(), 0);
    const std::unique_ptr<PlanWalk> walk = walk_plan(streamed);
    while (walk->next()) {
      const std::vector<PlannedFrame>& frames = walk->frames();
      if (!ring.wait_for_room(walk->first_frame() + frames.size() - 1, stop)) return;
      const std::span<const uint8_t> bytes = walk->bytes();
      const std::vector<PlannedSegment>& segments = walk->segments();
      for (size_t k = 0; k < segments.size(); ++k) {
        const PlannedSegment& seg = segments[k];
        const uint64_t index = walk->first_segment() + k;
        const std::optional<int64_t> due = sleep.precisely_until(t0_ns + seg.send_at_ns);
        if (!due) return;
        const int64_t sent = *due;
        if (index >= streamed.first_measured_segment) record.lateness.record(sent - (t0_ns + seg.send_at_ns));
        if (index >= shown.first_segment && index - shown.first_segment < shown.segments.size())
          record.timeline_sent_ns[index - shown.first_segment] = sent;
        // Before the frames' last bytes leave: a receiver may complete them at once.
        if (k + 1 == segments.size())
          for (size_t j = 0; j < frames.size(); ++j) ring.publish(walk->first_frame() + j, frames[j].due_ns, sent);
        for (int fd : fds_)
          if (!send_all(fd, bytes.data() + (seg.offset - segments.front().offset), seg.length, stop)) return;
      }
    }
  }

  void finish() override {
    for (int fd : fds_) shutdown(fd, SHUT_WR);
  }

 private:
  // A full send buffer (a receiver that stopped reading) is waited out in poll beside
  // the stop eventfd, so it cannot hold a stop request up. False when stopped.
  static bool send_all(int fd, const uint8_t* data, size_t len, const StopSignal& stop) {
    while (len > 0) {
      const ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) {
        data += n;
        len -= size_t(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (stop.requested()) return false;
      if (errno != EAGAIN) throw_errno("send");
      pollfd fds[2] = {{fd, POLLOUT, 0}, {stop.fd(), POLLIN, 0}};
      if (poll(fds, 2, -1) < 0 && errno != EINTR) throw_errno("poll for send buffer space");
      if (fds[1].revents & POLLIN) return false;
    }
    return true;
  }

  const Netns& ns_;
  Endpoint target_;
  Segmentation seg_;
  int connect_timeout_ms_;
  std::vector<int> fds_;
};

class LoopbackNetwork : public Network {
 public:
  explicit LoopbackNetwork(const Scenario& sc) : ns_(Netns::create()), ipv6_(sc.transport.ipv6) {
    if (sc.transport.mtu) ns_.run({"ip", "link", "set", "lo", "mtu", std::to_string(sc.transport.mtu)});
    mtu_ = sc.transport.mtu ? sc.transport.mtu : 65536;
    widen_ephemeral_ports(ns_);
  }
  const Netns& receiver_netns() const override { return ns_; }
  const Netns* sender_netns() const override { return &ns_; }
  Endpoint listen_endpoint() const override {
    return Endpoint::parse(ipv6_ ? "::1" : "127.0.0.1", kListenPort);
  }
  std::unique_ptr<Replayer> make_replayer(const Scenario& sc) override {
    return std::make_unique<SocketReplayer>(ns_, listen_endpoint(), sc.segmentation);
  }
  nlohmann::json describe() const override {
    return {{"kind", "loopback"}, {"device", "lo"}, {"mtu", mtu_}, {"namespaces", 1},
            {"address", listen_endpoint().text}};
  }

 private:
  Netns ns_;
  bool ipv6_;
  uint32_t mtu_ = 0;
};

class VethNetwork : public Network {
 public:
  explicit VethNetwork(const Scenario& sc)
      : sender_(Netns::create()), receiver_(Netns::create()), transport_(sc.transport) {
    sender_.run({"ip", "link", "add", kSenderDev, "index", kSenderIndex, "type", "veth", "peer", "name",
                 kReceiverDev, "index", kReceiverIndex, "netns", receiver_.path()});
    configure(sender_, kSenderDev, transport_.ipv6 ? kSenderV6 : kSenderV4);
    configure(receiver_, kReceiverDev, transport_.ipv6 ? kReceiverV6 : kReceiverV4);
    wait_until_running(sender_, kSenderDev);
    wait_until_running(receiver_, kReceiverDev);
    widen_ephemeral_ports(sender_);
  }
  const Netns& receiver_netns() const override { return receiver_; }
  const Netns* sender_netns() const override { return &sender_; }
  Endpoint listen_endpoint() const override {
    return Endpoint::parse(transport_.ipv6 ? kReceiverV6 : kReceiverV4, kListenPort);
  }
  std::unique_ptr<Replayer> make_replayer(const Scenario& sc) override {
    return std::make_unique<SocketReplayer>(sender_, listen_endpoint(), sc.segmentation);
  }
  nlohmann::json describe() const override {
    return {{"kind", "veth"},
            {"devices", {kSenderDev, kReceiverDev}},
            {"mtu", transport_.mtu ? transport_.mtu : 1500},
            {"tso", transport_.tso},
            {"gso", transport_.gso},
            {"gro", transport_.gro},
            {"namespaces", 2},
            {"address", listen_endpoint().text}};
  }

 private:
  static constexpr const char* kSenderDev = "rqs0";
  static constexpr const char* kReceiverDev = "rqr0";
  // Distinct interface indexes (each namespace would give both ends index 2): linkwatch
  // handles a veth whose peer index differs from its own at once, and an equal one up
  // to a second later, which wait_until_running would then wait out.
  static constexpr const char* kSenderIndex = "10";
  static constexpr const char* kReceiverIndex = "11";

  void configure(const Netns& ns, const char* dev, const char* address) {
    const bool v6 = transport_.ipv6;
    if (transport_.mtu) ns.run({"ip", "link", "set", dev, "mtu", std::to_string(transport_.mtu)});
    auto onoff = [](bool on) { return std::string(on ? "on" : "off"); };
    ns.run({"ethtool", "-K", dev, "tso", onoff(transport_.tso), "gso", onoff(transport_.gso), "gro",
            onoff(transport_.gro)});
    if (v6)
      ns.run({"ip", "-6", "addr", "add", std::string(address) + "/64", "dev", dev, "nodad"});
    else
      ns.run({"ip", "addr", "add", std::string(address) + "/24", "dev", dev});
    ns.run({"ip", "link", "set", dev, "up"});
  }

  Netns sender_;
  Netns receiver_;
  Transport transport_;
};

}  // namespace

Endpoint Endpoint::parse(const std::string& ip, uint16_t port) {
  Endpoint e;
  if (ip.find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&e.addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    if (inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr) != 1) throw RunError("bad IPv6 address " + ip);
    e.len = sizeof *a;
    e.text = fmt::format("[{}]:{}", ip, port);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&e.addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, ip.c_str(), &a->sin_addr) != 1) throw RunError("bad IPv4 address " + ip);
    e.len = sizeof *a;
    e.text = fmt::format("{}:{}", ip, port);
  }
  return e;
}

std::unique_ptr<Replayer> make_socket_replayer(const Netns& ns, Endpoint target, const Segmentation& segmentation,
                                               int connect_timeout_ms) {
  return std::make_unique<SocketReplayer>(ns, std::move(target), segmentation, connect_timeout_ms);
}

std::unique_ptr<Network> make_network(const Scenario& sc) {
  switch (sc.transport.kind) {
    case Transport::Kind::Loopback: return std::make_unique<LoopbackNetwork>(sc);
    case Transport::Kind::Veth: return std::make_unique<VethNetwork>(sc);
    case Transport::Kind::Tap: return make_tap_network(sc);
    case Transport::Kind::Remote: break;  // the remote client (replay/remote) stands in
  }
  throw RunError("unknown transport");
}

}  // namespace rcvq
