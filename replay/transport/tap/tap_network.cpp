// The tap transport: the receiver under test listens in a private namespace whose only
// NIC is a TAP device; the replayer is a userspace TCP peer writing crafted Ethernet
// frames into it. That places every segment boundary exactly and lets the plan reorder,
// duplicate, overlap and drop segments, which kernel sockets cannot do.
#include "transport/tap/tap_network.hpp"

#include <sys/prctl.h>

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "common/clock.hpp"
#include "common/errors.hpp"
#include "source/source_stream.hpp"
#include "transport/tap/netstat.hpp"
#include "transport/tap/packet.hpp"
#include "transport/tap/skb_layout_probe.hpp"
#include "transport/tap/tap_device.hpp"
#include "transport/tap/tcp_window.hpp"

namespace rcvq {
namespace {

using namespace tap;
using json = nlohmann::json;

constexpr uint16_t kListenPort = 5001;
constexpr const char* kDevice = "tap0";
// Benchmarking ranges (RFC 2544, RFC 5180), configured only inside the namespace this
// tool creates. The peer has no interface at all: it exists only behind the TAP.
constexpr const char* kPeerV4 = "198.18.0.1";
constexpr const char* kReceiverV4 = "198.18.0.2";
constexpr const char* kPeerV6 = "2001:2::1";
constexpr const char* kReceiverV6 = "2001:2::2";
constexpr MacAddress kPeerMac = {0x02, 0x72, 0x63, 0x76, 0x71, 0x01};
constexpr MacAddress kReceiverMac = {0x02, 0x72, 0x63, 0x76, 0x71, 0x02};
constexpr uint16_t kFirstPeerPort = 40000;
// The peer receives no data: it announces 64 KiB and no scaling of its own.
constexpr uint16_t kPeerWindow = 65535;
// Server side enabled, no cookie required, no TCP_FASTOPEN socket option needed.
constexpr const char* kFastOpenServerNoCookie = "1538";  // 0x602

constexpr int64_t kSynRetryNs = 1'000'000'000;
constexpr int64_t kHandshakeTimeoutNs = 5'000'000'000;
constexpr int64_t kRecoveryAfterNs = 200'000'000;
constexpr int64_t kFinishTimeoutNs = 5'000'000'000;
constexpr uint32_t kDrainEvery = 32;  // packets between non-blocking reads of ACKs
// Reading the ACKs waiting on the TAP takes a syscall per frame (~1 us each); done in a
// gap only while at least this much of it remains.
constexpr int64_t kDrainSlackNs = 30'000;
// The checksum is the first to read each payload, from a stream far larger than the
// cache: the next segment's payload is prefetched so that its misses complete during
// this segment's write. In perf at top speed that cut the checksum loop's share of the
// sender's samples from 2% to 0.3%. This much covers a standard-MTU payload; the
// hardware prefetcher follows a larger one's reads.
constexpr size_t kPrefetchBytes = 1536;
constexpr size_t kCacheLine = 64;

// Counters worth showing from the receiving namespace's MIB: they prove which receive
// paths the plan exercised.
const std::vector<std::string> kReceiverMib = {
    "TcpInSegs",           "TcpExtTCPOFOQueue",     "TcpExtTCPOFOMerge",      "TcpExtTCPOFODrop",
    "TcpExtTCPDSACKOldSent", "TcpExtTCPDSACKOfoSent", "TcpExtTCPFastOpenPassive",
    "TcpExtTCPFastOpenPassiveFail", "TcpExtTCPRcvCoalesce", "TcpExtTCPZeroWindowDrop",
    "TcpExtTCPRcvQDrop",   "TcpExtTCPBacklogCoalesce", "TcpExtTCPHPHits",     "TcpExtTCPPureAcks"};

std::string mac_text(const MacAddress& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

int64_t percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + ptrdiff_t(k), v.end());
  return v[k];
}

class TapNetwork;

// One TCP connection as the userspace peer sees it.
struct PeerConnection {
  uint16_t port = 0;
  uint32_t iss = 0;
  uint32_t rcv_nxt = 0;   // next byte expected from the receiver (its FIN counts)
  int window_shift = 0;   // the receiver's, applied to every non-SYN window
  uint16_t receiver_mss = 0;
  SendWindow window;
  // Every segment without options goes out through it; absent on the stand-in for a
  // stale receiver socket that handle() resets.
  std::optional<TcpHeaderTemplate> headers;
  bool established = false, reset = false, fin_sent = false;
  uint32_t syn_data = 0;       // stream bytes sent in the SYN (TFO)
  uint32_t syn_data_acked = 0; // ... that the SYN-ACK acknowledged
  int64_t syn_sent_ns = 0;

  uint32_t seq_of(uint64_t stream_offset) const { return iss + 1 + uint32_t(stream_offset); }
};

class TapReplayer final : public Replayer {
 public:
  TapReplayer(TapNetwork& net, const Scenario& sc);
  void connect(uint32_t connections) override;
  void replay(const ReplayPlan& plan, int64_t t0_ns, std::vector<int64_t>& sent_ns,
              const StopSignal& stop) override;
  void finish() override;
  // The pacing timer was opened on the sender thread, in its descriptor table.
  void close_descriptors() override { sleep_.reset(); }
  json stats() const override;

 private:
  void send_tcp(PeerConnection& c, uint32_t seq, uint8_t flags, std::span<const uint8_t> payload,
                std::span<const uint8_t> options = {});
  void send_syn(PeerConnection& c);
  void send_stream(PeerConnection& c, uint64_t offset, uint32_t length, bool push);
  // Reads every frame the receiver's stack has transmitted; returns how many.
  size_t drain();
  void handle(const ReceivedFrame& f);
  // Returns at `due` or later, with the time it returned: reads waiting ACKs if the gap
  // allows, sleeps while the deadline is far, spins the rest. Returns early on a stop
  // request, which the caller checks.
  int64_t wait_until(int64_t due);
  // Blocks until `end_seq` fits the receiver's window; false on a stop request.
  bool wait_for_window(PeerConnection& c, uint32_t end_seq, const StopSignal* stop);
  // No ACK progress for a while: resend from the first unacknowledged byte (or probe a
  // zero window) so a receiver that dropped data is not left waiting.
  void recover(PeerConnection& c);
  PeerConnection* find(uint16_t port);

  TapNetwork& net_;
  TapDevice& dev_;
  const LinkEnds& ends_;
  const Transport transport_;
  const int64_t timeout_ns_;
  const uint32_t mss_;
  std::vector<PeerConnection> conns_;
  std::vector<uint8_t> tfo_data_;  // stream prefix that rides in the SYN
  const std::vector<uint8_t>* stream_ = nullptr;
  uint64_t stream_end_ = 0;
  const StopSignal* stop_ = nullptr;
  std::optional<StoppableSleep> sleep_;  // replay()'s, on its stop signal
  std::vector<uint8_t> rx_;
  std::vector<uint8_t> frame_;
  uint16_t ip_id_ = 1;

  // What the sender saw.
  uint64_t packets_ = 0, payload_bytes_ = 0, data_packets_ = 0, skipped_by_plan_ = 0;
  uint64_t window_waits_ = 0, recovery_retransmits_ = 0, window_probes_ = 0;
  int64_t window_wait_ns_ = 0;
  uint64_t arp_replies_ = 0, nd_replies_ = 0, acks_ = 0, bad_checksums_ = 0, resets_sent_ = 0;
  std::vector<int64_t> pacing_error_ns_;
  // How long each segment's writes took: the receiving stack's work inside them
  // (NAPI), including waking the receiver, which the pacing error leaves out.
  std::vector<int64_t> write_ns_;
  int64_t first_send_ns_ = 0, last_send_ns_ = 0;
  uint64_t replay_packets_ = 0;
  SkbLayout layout_start_;
  NetstatCounters mib_start_;
};

class TapNetwork final : public Network {
 public:
  explicit TapNetwork(const Scenario& sc);
  const Netns& receiver_netns() const override { return netns_; }
  Endpoint listen_endpoint() const override {
    return Endpoint::parse(transport_.ipv6 ? kReceiverV6 : kReceiverV4, kListenPort);
  }
  std::unique_ptr<Replayer> make_replayer(const Scenario& sc) override {
    return std::make_unique<TapReplayer>(*this, sc);
  }
  json describe() const override;

  TapDevice& device() { return *tap_; }
  const LinkEnds& ends() const { return ends_; }
  const SkbLayoutProbe& layout_probe() const { return *probe_; }
  // Fresh source ports for every replayer, so a repetition never meets the receiver's
  // sockets of the one before.
  uint16_t take_ports(uint32_t count) {
    if (next_port_ + count > 65000) next_port_ = kFirstPeerPort;
    const uint16_t first = next_port_;
    next_port_ = uint16_t(next_port_ + count);
    return first;
  }

 private:
  Transport transport_;
  Netns netns_;
  std::unique_ptr<TapDevice> tap_;
  LinkEnds ends_;
  std::unique_ptr<SkbLayoutProbe> probe_;
  uint32_t mtu_ = 1500;
  uint16_t next_port_ = kFirstPeerPort;
};

TapNetwork::TapNetwork(const Scenario& sc) : transport_(sc.transport), netns_(Netns::create()) {
  tap_ = std::make_unique<TapDevice>(netns_, kDevice, transport_.napi_frags);
  if (transport_.hds && !tap_->napi_frags())
    throw RunError(fmt::format("transport.hds needs a TAP with IFF_NAPI_FRAGS, which this kernel refused ({})",
                               tap_->fallback_reason()));
  if (transport_.mtu) mtu_ = transport_.mtu;
  const bool v6 = transport_.ipv6;
  ends_.local_mac = kPeerMac;
  ends_.remote_mac = kReceiverMac;
  ends_.local_ip = IpAddress::parse(v6 ? kPeerV6 : kPeerV4);
  ends_.remote_ip = IpAddress::parse(v6 ? kReceiverV6 : kReceiverV4);
  netns_.run({"ip", "link", "set", "dev", kDevice, "address", mac_text(kReceiverMac), "mtu",
              std::to_string(mtu_), "up"});
  if (v6)
    netns_.run({"ip", "-6", "addr", "add", fmt::format("{}/64", kReceiverV6), "dev", kDevice, "nodad"});
  else
    netns_.run({"ip", "addr", "add", fmt::format("{}/24", kReceiverV4), "dev", kDevice});
  netns_.run({"ethtool", "-K", kDevice, "gro", transport_.gro ? "on" : "off"});
  if (transport_.tfo) netns_.set_sysctl("net/ipv4/tcp_fastopen", kFastOpenServerNoCookie);
  probe_ = std::make_unique<SkbLayoutProbe>(netns_, kDevice);
}

json TapNetwork::describe() const {
  json d = {{"kind", "tap"},
            {"device", kDevice},
            {"mtu", mtu_},
            {"mss", tap_mss(transport_)},
            {"ipv6", transport_.ipv6},
            {"receiver", listen_endpoint().text},
            {"peer", ends_.local_ip.text()},
            {"napi", tap_->napi()},
            {"napi_frags", tap_->napi_frags()},
            {"gro", transport_.gro},
            {"hds_requested", transport_.hds},
            {"tfo", transport_.tfo}};
  if (!tap_->fallback_reason().empty()) d["napi_fallback_reason"] = tap_->fallback_reason();
  // Measured, see tests/integration/tap_transport_test.cpp: each write is its own NAPI cycle.
  if (transport_.gro)
    d["gro_note"] = "every TAP write completes its own NAPI cycle, so GRO flushes after each packet; "
                    "skb_layout.gro_merged_skbs in the sender stats shows what was merged";
  if (!probe_->available()) d["skb_layout_unavailable"] = probe_->unavailable_reason();
  return d;
}

TapReplayer::TapReplayer(TapNetwork& net, const Scenario& sc)
    : net_(net),
      dev_(net.device()),
      ends_(net.ends()),
      transport_(sc.transport),
      timeout_ns_(int64_t(sc.run.timeout_s * 1e9)),
      mss_(tap_mss(sc.transport)),
      rx_(65536),
      frame_(kMaxHeaders + mss_) {
  if (transport_.tfo) {
    // The SYN is sent before replay() sees the plan; the plan is deterministic for the
    // scenario, so building it here yields the very bytes replay() will get (checked there).
    const ReplayPlan plan = build_plan(sc, load_source(sc));
    for (const PlannedSegment& s : plan.segments) {
      if (s.offset == 0 && !(s.flags & kSegDropped)) {
        tfo_data_.assign(plan.stream.begin(), plan.stream.begin() + std::min(s.length, mss_));
        break;
      }
    }
  }
}

PeerConnection* TapReplayer::find(uint16_t port) {
  for (PeerConnection& c : conns_)
    if (c.port == port) return &c;
  return nullptr;
}

void TapReplayer::send_tcp(PeerConnection& c, uint32_t seq, uint8_t flags, std::span<const uint8_t> payload,
                           std::span<const uint8_t> options) {
  const uint16_t ip_id = ip_id_++;
  // Only grows, so a data segment costs no allocation and no bookkeeping of its size.
  if (frame_.size() < kMaxHeaders + payload.size()) frame_.resize(kMaxHeaders + payload.size());
  size_t hlen;
  if (c.headers && options.empty()) {
    hlen = c.headers->build(frame_.data(), seq, c.rcv_nxt, flags, payload, ip_id);
  } else {
    TcpHeaderFields h;
    h.src_port = c.port;
    h.dst_port = kListenPort;
    h.seq = seq;
    h.ack = c.rcv_nxt;
    h.flags = flags;
    h.window = kPeerWindow;
    h.options = options;
    hlen = build_tcp_headers(frame_.data(), ends_, h, payload, ip_id);
  }
  if (transport_.hds && !payload.empty()) {
    dev_.write_split({frame_.data(), hlen}, payload);
  } else {
    // One iovec: with IFF_NAPI_FRAGS tun would put a second one in page frags.
    std::copy(payload.begin(), payload.end(), frame_.begin() + ptrdiff_t(hlen));
    dev_.write_linear({frame_.data(), hlen + payload.size()});
  }
  ++packets_;
  payload_bytes_ += payload.size();
  if (!payload.empty()) ++data_packets_;
  const uint32_t end = seq + uint32_t(payload.size()) + ((flags & (tcp_flag::kSyn | tcp_flag::kFin)) ? 1 : 0);
  c.window.on_sent(end);
}

void TapReplayer::send_syn(PeerConnection& c) {
  const std::vector<uint8_t> options = syn_options(uint16_t(mss_), 0);
  c.syn_data = uint32_t(tfo_data_.size());
  send_tcp(c, c.iss, tcp_flag::kSyn, tfo_data_, options);
  c.syn_sent_ns = monotonic_ns();
}

void TapReplayer::send_stream(PeerConnection& c, uint64_t offset, uint32_t length, bool push) {
  const std::span<const uint8_t> payload(stream_->data() + offset, length);
  send_tcp(c, c.seq_of(offset), uint8_t(tcp_flag::kAck | (push ? tcp_flag::kPsh : 0)), payload);
}

void TapReplayer::handle(const ReceivedFrame& f) {
  using K = ReceivedFrame::Kind;
  if (f.kind == K::ArpRequest && f.target_ip == ends_.local_ip) {
    dev_.write_linear(build_arp_reply(ends_, f.src_mac, std::span<const uint8_t, 4>(f.src_ip.bytes.data(), 4)));
    ++arp_replies_;
    return;
  }
  if (f.kind == K::NeighborSolicit && f.target_ip == ends_.local_ip) {
    dev_.write_linear(build_neighbor_advert(ends_, f.src_mac, f.src_ip));
    ++nd_replies_;
    return;
  }
  if (f.kind != K::Tcp || f.src_port != kListenPort) return;
  if (!f.checksum_ok) {
    ++bad_checksums_;
    return;
  }
  PeerConnection* c = find(f.dst_port);
  if (!c) {
    // A receiver socket of an earlier repetition still closing: end it.
    if ((f.flags & tcp_flag::kAck) && !(f.flags & tcp_flag::kRst)) {
      PeerConnection stale;
      stale.port = f.dst_port;
      stale.rcv_nxt = f.seq + f.payload_length + ((f.flags & (tcp_flag::kSyn | tcp_flag::kFin)) ? 1 : 0);
      send_tcp(stale, f.ack, tcp_flag::kRst, {});
      ++resets_sent_;
    }
    return;
  }
  if (f.flags & tcp_flag::kRst) {
    c->reset = true;
    return;
  }
  if ((f.flags & tcp_flag::kSyn) && (f.flags & tcp_flag::kAck)) {
    if (c->established) return;  // a retransmitted SYN-ACK; our ACK follows below anyway
    c->rcv_nxt = f.seq + 1;
    c->window_shift = f.window_shift < 0 ? 0 : f.window_shift;
    c->receiver_mss = f.mss;
    c->syn_data_acked = f.ack - (c->iss + 1);
    if (c->syn_data_acked > c->syn_data) c->syn_data_acked = 0;
    // The SYN-ACK's window is never scaled.
    c->window.start(c->iss + 1, f.window);
    c->window.on_sent(c->iss + 1 + c->syn_data);
    c->window.on_ack(f.ack, f.window);
    c->established = true;
    send_tcp(*c, f.ack, tcp_flag::kAck, {});
    return;
  }
  if (!c->established) return;
  ++acks_;
  c->window.on_ack(f.ack, uint32_t(f.window) << c->window_shift);
  if (f.flags & tcp_flag::kFin) {
    c->rcv_nxt = f.seq + f.payload_length + 1;
    send_tcp(*c, c->window.max_sent(), tcp_flag::kAck, {});
  }
}

size_t TapReplayer::drain() {
  size_t frames = 0;
  for (size_t n; (n = dev_.read(rx_)) > 0; ++frames) handle(parse_frame({rx_.data(), n}));
  return frames;
}

void TapReplayer::connect(uint32_t connections) {
  layout_start_ = net_.layout_probe().read();
  mib_start_ = read_netstat(net_.receiver_netns());
  const uint16_t first_port = net_.take_ports(connections);
  for (uint32_t i = 0; i < connections; ++i) {
    PeerConnection& c = conns_.emplace_back();
    c.port = uint16_t(first_port + i);
    // Any ISS works; a fixed, distinct one per connection keeps runs reproducible.
    c.iss = 0x10000000u * (i % 15 + 1) + c.port;
    c.headers.emplace(ends_, c.port, kListenPort, kPeerWindow);
  }
  for (PeerConnection& c : conns_) send_syn(c);
  const int64_t deadline = monotonic_ns() + kHandshakeTimeoutNs;
  for (;;) {
    drain();
    bool all = true;
    for (PeerConnection& c : conns_) {
      if (c.reset) throw RunError(fmt::format("the receiver refused connection {} (RST)", c.port));
      if (c.established) continue;
      all = false;
      if (monotonic_ns() - c.syn_sent_ns > kSynRetryNs) send_syn(c);
    }
    if (all) return;
    if (monotonic_ns() > deadline)
      throw RunError(fmt::format("no SYN-ACK from the receiver at {} within {} s", net_.listen_endpoint().text,
                                 kHandshakeTimeoutNs / 1'000'000'000));
    // A stop must not wait for the handshake timeout.
    if (StopSignal::instance().requested()) throw RunError("interrupted during the TAP handshake");
    dev_.wait_readable(50);
  }
}

void TapReplayer::recover(PeerConnection& c) {
  const uint32_t unacked = c.window.in_flight();
  if (unacked == 0 || !stream_) {
    // Out-of-window pure ACK: the receiver answers with its current window.
    send_tcp(c, c.window.una() - 1, tcp_flag::kAck, {});
    ++window_probes_;
    return;
  }
  const uint64_t offset = uint64_t(c.window.una() - (c.iss + 1));
  if (offset >= stream_end_) {
    send_tcp(c, c.window.una(), tcp_flag::kAck | tcp_flag::kFin, {});  // the FIN was lost
    ++recovery_retransmits_;
    return;
  }
  const uint32_t length = uint32_t(std::min<uint64_t>({mss_, unacked, stream_end_ - offset}));
  send_stream(c, offset, length, true);
  ++recovery_retransmits_;
}

int64_t TapReplayer::wait_until(int64_t due) {
  int64_t now = monotonic_ns();
  if (now >= due) return now;  // behind schedule or at top speed: no waiting, no reads
  if (due - now > kDrainSlackNs) {
    drain();
    now = monotonic_ns();
  }
  return sleep_->precisely_until(due).value_or(monotonic_ns());
}

bool TapReplayer::wait_for_window(PeerConnection& c, uint32_t end_seq, const StopSignal* stop) {
  if (c.window.fits(end_seq)) return true;
  drain();
  if (c.window.fits(end_seq)) return true;
  ++window_waits_;
  const int64_t started = monotonic_ns();
  int64_t last_progress = started;
  uint32_t last_una = c.window.una();
  uint32_t last_edge = c.window.right_edge();
  while (!c.window.fits(end_seq)) {
    if (c.reset) throw RunError(fmt::format("the receiver reset connection {}", c.port));
    if (stop && stop->requested()) return false;
    const int64_t now = monotonic_ns();
    if (c.window.una() != last_una || c.window.right_edge() != last_edge) {
      last_una = c.window.una();
      last_edge = c.window.right_edge();
      last_progress = now;
    } else if (now - last_progress > kRecoveryAfterNs) {
      recover(c);
      last_progress = now;
    }
    if (now - started > timeout_ns_)
      throw RunError(fmt::format("the receiver's window stayed closed for {:.1f} s (connection {})",
                                 double(now - started) / 1e9, c.port));
    if (dev_.wait_readable(10)) drain();
  }
  window_wait_ns_ += monotonic_ns() - started;
  return true;
}

void TapReplayer::replay(const ReplayPlan& plan, int64_t t0_ns, std::vector<int64_t>& sent_ns,
                         const StopSignal& stop) {
  if (!tfo_data_.empty() &&
      (plan.stream.size() < tfo_data_.size() || !std::equal(tfo_data_.begin(), tfo_data_.end(), plan.stream.begin())))
    throw RunError("the plan differs from the one whose first bytes went out in the TFO SYN");
  stream_ = &plan.stream;
  stream_end_ = plan.stream.size();
  stop_ = &stop;
  sleep_.emplace(stop);
  sent_ns.assign(plan.segments.size(), 0);
  pacing_error_ns_.reserve(plan.segments.size());
  write_ns_.reserve(plan.segments.size());
  // Wake from clock_nanosleep within a microsecond rather than the default 50 us slack.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  const auto& segs = plan.segments;
  for (size_t i = 0; i < segs.size(); ++i) {
    const PlannedSegment& s = segs[i];
    const int64_t due = t0_ns + s.send_at_ns;
    // The hand-over time is taken before the write, as the socket transport takes it
    // before send(): the stack processes the frame inside the write (NAPI), and the
    // time that takes (including the receiver thread it wakes) is not pacing error.
    int64_t handed_over = wait_until(due);
    if (stop.requested()) return;
    if (s.flags & kSegDropped) {
      sent_ns[i] = handed_over;
      ++skipped_by_plan_;
      continue;
    }
    // PSH ends a planned send, as a sender's stack sets it at the end of a write; GRO
    // flushes on it, so the packets of one send may merge but separate sends do not.
    const bool more_of_this_send = i + 1 < segs.size() && segs[i + 1].send_at_ns == s.send_at_ns &&
                                   segs[i + 1].offset == s.offset + s.length && !(segs[i + 1].flags & kSegDropped);
    // Written out here: GCC (12) drops the calls to a helper doing this, as it finds the
    // helper free of side effects.
    if (i + 1 < segs.size()) {
      const uint8_t* next_payload = plan.stream.data() + segs[i + 1].offset;
      const size_t bytes = std::min<size_t>(segs[i + 1].length, kPrefetchBytes);
      for (size_t at = 0; at < bytes; at += kCacheLine) __builtin_prefetch(next_payload + at);
    }
    bool first_write = true;
    for (PeerConnection& c : conns_) {
      if (s.offset + s.length <= c.syn_data_acked) continue;  // already delivered in the SYN
      const uint32_t end = c.seq_of(s.offset + s.length);
      if (!c.window.fits(end)) {
        if (!wait_for_window(c, end, &stop)) return;
        if (first_write) handed_over = monotonic_ns();
      }
      first_write = false;
      send_stream(c, s.offset, s.length, !more_of_this_send);
    }
    sent_ns[i] = handed_over;
    pacing_error_ns_.push_back(handed_over - due);
    write_ns_.push_back(monotonic_ns() - handed_over);
    if (!first_send_ns_) first_send_ns_ = handed_over;
    last_send_ns_ = handed_over;
    if (++replay_packets_ % kDrainEvery == 0) drain();
  }
}

void TapReplayer::finish() {
  // FIN goes out after the last byte; wait until the receiver has acknowledged it, so
  // every byte is in its receive queue, resending whatever it dropped.
  if (stop_ && stop_->requested()) return;
  const int64_t deadline = monotonic_ns() + std::max(kFinishTimeoutNs, timeout_ns_);
  for (PeerConnection& c : conns_) {
    if (!c.established || c.reset || c.fin_sent) continue;
    const uint32_t fin_seq = stream_ ? c.seq_of(stream_end_) : c.window.max_sent();
    if (!wait_for_window(c, fin_seq, stop_)) return;
    send_tcp(c, fin_seq, tcp_flag::kAck | tcp_flag::kFin, {});
    c.fin_sent = true;
  }
  drain();
  int64_t last_progress = monotonic_ns();
  for (;;) {
    bool all = true;
    for (PeerConnection& c : conns_)
      if (c.fin_sent && !c.reset && c.window.in_flight() != 0) all = false;
    if (all || (stop_ && stop_->requested())) return;
    const int64_t now = monotonic_ns();
    if (now > deadline)
      throw RunError("the receiver did not acknowledge every byte and the FIN before the deadline");
    if (now - last_progress > kRecoveryAfterNs) {
      for (PeerConnection& c : conns_)
        if (c.fin_sent && !c.reset && c.window.in_flight() != 0) recover(c);
      last_progress = now;
    }
    if (dev_.wait_readable(10)) drain();
  }
}

json TapReplayer::stats() const {
  json s;
  s["transport"] = "tap";
  s["packets_sent"] = packets_;
  s["data_packets_sent"] = data_packets_;
  s["payload_bytes_sent"] = payload_bytes_;
  s["planned_drops_skipped"] = skipped_by_plan_;
  s["window_waits"] = window_waits_;
  s["window_wait_ms"] = double(window_wait_ns_) / 1e6;
  s["recovery_retransmits"] = recovery_retransmits_;
  s["window_probes"] = window_probes_;
  s["acks_received"] = acks_;
  s["arp_replies"] = arp_replies_;
  s["nd_replies"] = nd_replies_;
  s["bad_checksums_received"] = bad_checksums_;
  s["stale_resets_sent"] = resets_sent_;
  s["napi_busy_retries"] = dev_.busy_retries();
  if (!tfo_data_.empty()) {
    uint64_t accepted = 0;
    for (const PeerConnection& c : conns_) accepted += c.syn_data_acked == c.syn_data ? 1 : 0;
    s["tfo"] = {{"syn_data_bytes", tfo_data_.size()}, {"connections_accepted", accepted}};
  }
  if (!pacing_error_ns_.empty()) {
    s["pacing_error_ns"] = {{"p50", percentile(pacing_error_ns_, 0.50)},
                            {"p99", percentile(pacing_error_ns_, 0.99)},
                            {"max", *std::max_element(pacing_error_ns_.begin(), pacing_error_ns_.end())}};
  }
  if (!write_ns_.empty()) {
    s["injection_write_ns"] = {{"p50", percentile(write_ns_, 0.50)},
                               {"p99", percentile(write_ns_, 0.99)},
                               {"max", *std::max_element(write_ns_.begin(), write_ns_.end())}};
  }
  if (last_send_ns_ > first_send_ns_ && replay_packets_ > 1)
    s["injection_segments_per_s"] = double(replay_packets_ - 1) * double(conns_.size()) * 1e9 /
                                    double(last_send_ns_ - first_send_ns_);
  const SkbLayoutProbe& probe = net_.layout_probe();
  if (probe.available()) {
    const SkbLayout seen = probe.read() - layout_start_;
    s["skb_layout"] = seen.to_json();
    // What header/data split means for the stack: no payload byte in the linear area.
    const bool verified = transport_.hds ? seen.data_skbs > 0 && seen.payload_in_frags == seen.data_skbs
                                         : seen.payload_in_frags == 0;
    s["hds"] = {{"requested", transport_.hds}, {"verified", verified}};
  } else {
    s["skb_layout"] = nullptr;
    s["skb_layout_reason"] = probe.unavailable_reason();
    s["hds"] = {{"requested", transport_.hds}, {"verified", nullptr}};
  }
  try {
    const NetstatCounters delta = netstat_delta(mib_start_, read_netstat(net_.receiver_netns()));
    json mib = json::object();
    for (const std::string& name : kReceiverMib) {
      auto it = delta.find(name);
      mib[name] = it == delta.end() ? json(nullptr) : json(it->second);
    }
    s["receiver_mib"] = mib;
  } catch (const RunError& e) {
    s["receiver_mib"] = nullptr;
    s["receiver_mib_reason"] = e.what();
  }
  return s;
}

}  // namespace

std::unique_ptr<Network> make_tap_network(const Scenario& scenario) {
  return std::make_unique<TapNetwork>(scenario);
}

TapInjectionPoint tap_injection_point(Network& network) {
  auto* tap = dynamic_cast<TapNetwork*>(&network);
  if (!tap) throw RunError("not a tap network");
  return {tap->device(), tap->ends(), kListenPort, tap->take_ports(1)};
}

}  // namespace rcvq
