// Benchmark, not a test: how fast the tap transport injects segments into the
// receiver's stack while the receiver drains, as a ratio of a floor peer that writes
// the same pre-built frames into the same kind of TAP network, and next to
// `tcpreplay --topspeed` sending the same frames out of a veth whose peer sits in the
// receiver's namespace (not like for like: no connection); then the pacing error at
// 10k segments/s. Every address lives in namespaces this tool creates.
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <regex>
#include <thread>

#include "common/clock.hpp"
#include "common/errors.hpp"
#include "plan/plan.hpp"
#include "scenario/load.hpp"
#include "source/source_stream.hpp"
#include "transport/tap/packet.hpp"
#include "transport/tap/tap_device.hpp"
#include "transport/tap/tap_network.hpp"
#include "transport/tap/tcp_window.hpp"

namespace rcvq {
namespace {

struct TapResult {
  double segments_per_s = 0;
  nlohmann::json stats;
};

// The receiver both peers inject into: a listener in the network's namespace, then one
// accepted connection read by its own thread until `expected` bytes have arrived.
class DrainingReceiver {
 public:
  explicit DrainingReceiver(Network& net) {
    const Endpoint ep = net.listen_endpoint();
    {
      NetnsGuard inside(net.receiver_netns());
      listener_ = socket(ep.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    if (listener_ < 0 || bind(listener_, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) != 0 ||
        listen(listener_, 4) != 0)
      throw_errno("receiver listener");
  }
  DrainingReceiver(const DrainingReceiver&) = delete;
  DrainingReceiver& operator=(const DrainingReceiver&) = delete;
  ~DrainingReceiver() {
    if (drain_.joinable()) drain_.join();
    if (fd_ >= 0) close(fd_);
    close(listener_);
  }

  // After the peer's handshake: the connection waits in the backlog.
  void drain(uint64_t expected) {
    fd_ = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd_ < 0) throw_errno("accept");
    // A segment the stack dropped would otherwise leave the floor's run waiting forever.
    const timeval timeout{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    drain_ = std::thread([this, expected] {
      std::vector<uint8_t> buf(1 << 20);
      for (ssize_t n; received_ < expected && (n = recv(fd_, buf.data(), buf.size(), 0)) > 0;)
        received_ += uint64_t(n);
    });
  }

  void expect_all(uint64_t expected) {
    drain_.join();
    if (received_ != expected) throw RunError(fmt::format("receiver got {} of {} bytes", received_, expected));
  }

 private:
  int listener_ = -1, fd_ = -1;
  std::thread drain_;
  uint64_t received_ = 0;
};

// One connection, one receiver thread reading everything, the plan replayed at once.
TapResult run_tap(const std::string& yaml) {
  const Scenario sc = parse_scenario(yaml, "bench-tap");
  const ReplayPlan plan = build_plan(sc, load_source(sc));
  std::unique_ptr<Network> net = make_tap_network(sc);
  DrainingReceiver receiver(*net);
  std::unique_ptr<Replayer> replayer = net->make_replayer(sc);
  replayer->connect(1);
  receiver.drain(plan.stream.size());
  std::vector<int64_t> sent;
  const StopSignal stop;
  replayer->replay(plan, monotonic_ns() + 1'000'000, sent, stop);
  replayer->finish();
  receiver.expect_all(plan.stream.size());
  TapResult r;
  r.stats = replayer->stats();
  r.segments_per_s = r.stats.value("injection_segments_per_s", 0.0);
  return r;
}

// The floor under the tap replayer's injection rate: the same frames of one
// established connection written into the same kind of TAP network, with nothing done
// per segment but the write. Headers, checksums and payload copies are all made before
// the clock starts. It still reads what the stack transmits as often as the replayer
// does (every kAckReadEvery writes), because the ACKs are the only source of the
// receive window, and a segment past the window would be dropped rather than queued:
// different kernel work.
class InjectionFloor {
 public:
  static constexpr uint32_t kAckReadEvery = 32;  // the replayer's kDrainEvery (tap_network.cpp)
  static constexpr uint32_t kIss = 0x20000000;

  InjectionFloor(Network& net, uint32_t mss) : point_(tap_injection_point(net)), mss_(mss), rx_(65536) {}

  // The handshake, answering the receiver's ARP request for the peer on the way.
  void connect() {
    const std::vector<uint8_t> options = tap::syn_options(uint16_t(mss_), 0);
    send_control(kIss, tap::tcp_flag::kSyn, options);
    const int64_t deadline = monotonic_ns() + 5'000'000'000;
    while (!established_) {
      if (monotonic_ns() > deadline) throw RunError("floor: no SYN-ACK from the receiver within 5 s");
      if (point_.device.wait_readable(50)) read_frames();
    }
  }

  // Every segment of the plan as the replayer would frame it on this connection
  // (after connect(), which learns the receiver's sequence numbers).
  void build_frames(const ReplayPlan& plan) {
    const auto& segs = plan.segments;
    size_t bytes = 0;
    for (const PlannedSegment& s : segs) bytes += tap::kMaxHeaders + s.length;
    frames_.reserve(bytes);
    for (size_t i = 0; i < segs.size(); ++i) {
      const PlannedSegment& s = segs[i];
      if (s.flags & kSegDropped) continue;
      // PSH ends a planned send, by the replayer's rule, so GRO sees the same flags.
      const bool more_of_this_send = i + 1 < segs.size() && segs[i + 1].send_at_ns == s.send_at_ns &&
                                     segs[i + 1].offset == s.offset + s.length &&
                                     !(segs[i + 1].flags & kSegDropped);
      tap::TcpHeaderFields h = header(kIss + 1 + uint32_t(s.offset),
                                      uint8_t(tap::tcp_flag::kAck | (more_of_this_send ? 0 : tap::tcp_flag::kPsh)));
      const std::span<const uint8_t> payload(plan.stream.data() + s.offset, s.length);
      const size_t at = frames_.size();
      frames_.resize(at + tap::kMaxHeaders);
      const size_t hlen = tap::build_tcp_headers(frames_.data() + at, point_.ends, h, payload, ip_id_++);
      frames_.resize(at + hlen);
      frames_.insert(frames_.end(), payload.begin(), payload.end());
      frame_ends_.push_back(frames_.size());
      end_seqs_.push_back(h.seq + s.length);
    }
  }

  // Writes every frame, waiting only where the receiver's window requires; segments
  // per second, timed as the replayer times them (before the first and last writes).
  double inject() {
    const size_t count = frame_ends_.size();
    int64_t first = 0, last = 0;
    for (size_t i = 0, start = 0; i < count; start = frame_ends_[i++]) {
      if (!window_.fits(end_seqs_[i])) wait_for_window(end_seqs_[i]);
      if (i == 0) first = monotonic_ns();
      if (i + 1 == count) last = monotonic_ns();
      point_.device.write_linear({frames_.data() + start, frame_ends_[i] - start});
      window_.on_sent(end_seqs_[i]);
      if ((i + 1) % kAckReadEvery == 0) read_frames();
    }
    return count > 1 && last > first ? double(count - 1) * 1e9 / double(last - first) : 0;
  }

 private:
  tap::TcpHeaderFields header(uint32_t seq, uint8_t flags) const {
    tap::TcpHeaderFields h;
    h.src_port = point_.peer_port;
    h.dst_port = point_.listen_port;
    h.seq = seq;
    h.ack = rcv_nxt_;
    h.flags = flags;
    h.window = 65535;
    return h;
  }

  // A segment without payload (the SYN, the handshake's ACK), built when it is sent.
  void send_control(uint32_t seq, uint8_t flags, std::span<const uint8_t> options) {
    tap::TcpHeaderFields h = header(seq, flags);
    h.options = options;
    uint8_t frame[tap::kMaxHeaders];
    const size_t hlen = tap::build_tcp_headers(frame, point_.ends, h, {}, ip_id_++);
    point_.device.write_linear({frame, hlen});
  }

  void read_frames() {
    for (size_t n; (n = point_.device.read(rx_)) > 0;) handle(tap::parse_frame({rx_.data(), n}));
  }

  void handle(const tap::ReceivedFrame& f) {
    using K = tap::ReceivedFrame::Kind;
    if (f.kind == K::ArpRequest && f.target_ip == point_.ends.local_ip) {
      point_.device.write_linear(
          tap::build_arp_reply(point_.ends, f.src_mac, std::span<const uint8_t, 4>(f.src_ip.bytes.data(), 4)));
      return;
    }
    if (f.kind != K::Tcp || f.src_port != point_.listen_port || f.dst_port != point_.peer_port) return;
    if (f.flags & tap::tcp_flag::kRst) throw RunError("floor: the receiver reset the connection");
    if ((f.flags & tap::tcp_flag::kSyn) && (f.flags & tap::tcp_flag::kAck)) {
      if (established_) return;
      rcv_nxt_ = f.seq + 1;
      window_shift_ = std::max(0, f.window_shift);
      // The SYN-ACK's window is never scaled.
      window_.start(kIss + 1, f.window);
      window_.on_ack(f.ack, f.window);
      established_ = true;
      send_control(kIss + 1, tap::tcp_flag::kAck, {});
      return;
    }
    if (established_) window_.on_ack(f.ack, uint32_t(f.window) << window_shift_);
  }

  void wait_for_window(uint32_t end_seq) {
    read_frames();
    const int64_t deadline = monotonic_ns() + 5'000'000'000;
    while (!window_.fits(end_seq)) {
      if (monotonic_ns() > deadline) throw RunError("floor: the receiver's window stayed closed for 5 s");
      if (point_.device.wait_readable(10)) read_frames();
    }
  }

  TapInjectionPoint point_;
  const uint32_t mss_;
  std::vector<uint8_t> rx_;
  std::vector<uint8_t> frames_;
  std::vector<size_t> frame_ends_;
  std::vector<uint32_t> end_seqs_;
  uint32_t rcv_nxt_ = 0;
  int window_shift_ = 0;
  tap::SendWindow window_;
  bool established_ = false;
  uint16_t ip_id_ = 1;
};

// The same plan, network and receiver as run_tap, injected by the floor.
double run_floor(const std::string& yaml) {
  const Scenario sc = parse_scenario(yaml, "bench-tap");
  const ReplayPlan plan = build_plan(sc, load_source(sc));
  std::unique_ptr<Network> net = make_tap_network(sc);
  DrainingReceiver receiver(*net);
  InjectionFloor floor(*net, tap_mss(sc.transport));
  floor.connect();
  receiver.drain(plan.stream.size());
  floor.build_frames(plan);
  const double segments_per_s = floor.inject();
  receiver.expect_all(plan.stream.size());
  return segments_per_s;
}

// The frames the tap peer would send for `count` segments of `payload` bytes,
// addressed across the veth.
void write_pcap(const std::string& path, const tap::LinkEnds& ends, uint32_t payload, uint32_t count) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* out = pcap_dump_open(dead, path.c_str());
  if (!out) throw RunError(fmt::format("cannot write {}: {}", path, pcap_geterr(dead)));
  std::vector<uint8_t> data(payload, 0x5a);
  std::vector<uint8_t> frame(tap::kMaxHeaders + payload);
  for (uint32_t i = 0; i < count; ++i) {
    tap::TcpHeaderFields h;
    h.src_port = 40000;
    h.dst_port = 5001;
    h.seq = 1000 + i * payload;
    h.ack = 1;
    h.flags = tap::tcp_flag::kAck | tap::tcp_flag::kPsh;
    h.window = 65535;
    const size_t hlen = tap::build_tcp_headers(frame.data(), ends, h, data, uint16_t(i));
    std::copy(data.begin(), data.end(), frame.begin() + ptrdiff_t(hlen));
    pcap_pkthdr ph{};
    ph.caplen = ph.len = uint32_t(hlen + payload);
    pcap_dump(reinterpret_cast<u_char*>(out), &ph, frame.data());
  }
  pcap_dump_close(out);
  pcap_close(dead);
}

std::string run_capture_output(const std::vector<std::string>& argv) {
  std::string cmd;
  for (const auto& a : argv) cmd += a + " ";
  cmd += "2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw_errno("popen");
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (pclose(p) != 0) throw RunError(fmt::format("'{}' failed: {}", cmd, out));
  return out;
}

// tcpreplay's own reported packet rate, sending from a sender namespace over a veth
// into the receiver namespace of a tap network (so both paths end in the same stack).
double run_tcpreplay(const Netns& receiver, uint32_t payload, uint32_t frames, uint32_t loops) {
  Netns sender = Netns::create();
  sender.run({"ip", "link", "add", "bench-a", "type", "veth", "peer", "name", "bench-b", "netns", receiver.path()});
  const tap::MacAddress a_mac = {0x02, 0x72, 0x63, 0x76, 0x62, 0x01}, b_mac = {0x02, 0x72, 0x63, 0x76, 0x62, 0x02};
  sender.run({"ip", "link", "set", "bench-a", "address", "02:72:63:76:62:01", "up"});
  receiver.run({"ip", "link", "set", "bench-b", "address", "02:72:63:76:62:02", "up"});
  receiver.run({"ip", "addr", "add", "198.18.1.2/24", "dev", "bench-b"});
  tap::LinkEnds ends;
  ends.local_mac = a_mac;
  ends.remote_mac = b_mac;
  ends.local_ip = tap::IpAddress::parse("198.18.1.1");
  ends.remote_ip = tap::IpAddress::parse("198.18.1.2");
  const std::string pcap = fmt::format("/tmp/rcvq-bench-tap-{}-{}.pcap", getpid(), payload);
  write_pcap(pcap, ends, payload, frames);
  std::string out;
  try {
    NetnsGuard inside(sender);
    out = run_capture_output({"tcpreplay", "--topspeed", "--preload-pcap", fmt::format("--loop={}", loops),
                              "-i", "bench-a", pcap});
  } catch (...) {
    std::filesystem::remove(pcap);
    throw;
  }
  std::filesystem::remove(pcap);
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(([0-9.]+) pps)")))
    throw RunError("no 'pps' figure in tcpreplay's output: " + out);
  return std::stod(m[1]);
}

std::string topspeed_yaml(uint32_t payload, uint32_t segments) {
  // desc8 frames: 8-byte prefix + body = one segment of `payload` bytes each.
  return fmt::format(R"(
source: {{synthetic: {{frames: {}, payload: {}}}}}
segmentation: {{cut: whole}}
transport: {{kind: tap}}
run: {{timeout_s: 30}}
)", segments, payload - 8);
}

constexpr int kRounds = 5;

// Keeps the calling thread, and every thread it starts meanwhile (the receiver's),
// on the CPU it is running on, until destroyed.
class OnOneCpu {
 public:
  OnOneCpu() {
    pthread_getaffinity_np(pthread_self(), sizeof saved_, &saved_);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0) throw RunError("cannot pin to one CPU");
  }
  OnOneCpu(const OnOneCpu&) = delete;
  OnOneCpu& operator=(const OnOneCpu&) = delete;
  ~OnOneCpu() { pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_); }

 private:
  cpu_set_t saved_;
};

int bench(int argc, char** argv) {
  const uint32_t segments = argc > 1 ? uint32_t(std::stoul(argv[1])) : 50000;
  fmt::print("rcvqbench tap injection benchmark ({} segments per size, one connection, receiver draining)\n\n",
             segments);
  fmt::print("{:>10} {:>8} {:>12} {:>12} {:>10} {:>12} {:>16} {:>14}\n", "payload B", "frame B", "tap seg/s",
             "floor seg/s", "tap/floor", "on 1 CPU", "tcpreplay pkt/s", "tap/tcpreplay*");
  for (uint32_t payload : {1000u, 12u}) {
    const std::string yaml = topspeed_yaml(payload, segments);
    const uint32_t pcap_frames = std::min<uint32_t>(segments, 10000);
    // Alternated, and the best of each kept: other load on the machine comes and goes
    // within a run of a few hundred milliseconds and only ever slows a run down.
    double tap = 0, floor = 0, tcpreplay = 0;
    for (int round = 0; round < kRounds; ++round) {
      tap = std::max(tap, run_tap(yaml).segments_per_s);
      floor = std::max(floor, run_floor(yaml));
      // tcpreplay goes into a fresh tap network's namespace: the same kind of stack.
      std::unique_ptr<Network> net = make_tap_network(parse_scenario(yaml, "bench-tap"));
      tcpreplay = std::max(tcpreplay, run_tcpreplay(net->receiver_netns(), payload, pcap_frames,
                                                    std::max<uint32_t>(1, segments / pcap_frames)));
    }
    double one_cpu_tap = 0, one_cpu_floor = 0;
    {
      const OnOneCpu pinned;
      for (int round = 0; round < kRounds; ++round) {
        one_cpu_tap = std::max(one_cpu_tap, run_tap(yaml).segments_per_s);
        one_cpu_floor = std::max(one_cpu_floor, run_floor(yaml));
      }
    }
    fmt::print("{:>10} {:>8} {:>12.0f} {:>12.0f} {:>10.2f} {:>12.2f} {:>16.0f} {:>14.2f}\n", payload, payload + 54, tap,
               floor, tap / floor, one_cpu_tap / one_cpu_floor, tcpreplay, tap / tcpreplay);
  }
  fmt::print("(best of {} alternated runs each; goal tap/floor >= 0.90; * not like for like, see notes)\n", kRounds);
  const TapResult paced = run_tap(R"(
source: {synthetic: {frames: 20000, payload: 992}}
segmentation: {cut: whole, frame_gap_us: 100}
transport: {kind: tap}
run: {timeout_s: 30}
)");
  const auto& e = paced.stats["pacing_error_ns"];
  fmt::print("\npacing at 10k segments/s (20000 x 1000 B): error p50 {:.2f} us, p99 {:.2f} us, max {:.1f} us "
             "(goal p99 < 20 us)\n",
             e["p50"].get<double>() / 1e3, e["p99"].get<double>() / 1e3, e["max"].get<double>() / 1e3);
  const auto& w = paced.stats["injection_write_ns"];
  fmt::print("each write into the TAP (the stack receiving the segment, waking the receiver): p50 {:.1f} us, "
             "p99 {:.1f} us, max {:.1f} us\n",
             w["p50"].get<double>() / 1e3, w["p99"].get<double>() / 1e3, w["max"].get<double>() / 1e3);
  fmt::print("\nnotes: tap seg/s counts segments written into the TAP, each processed by the receiver's stack\n"
             "inside the write (NAPI). floor seg/s is a peer in this binary writing the same frames of one\n"
             "established connection, built before its clock starts, into the same kind of TAP network, and\n"
             "reading the ACKs as often as the tap peer does (they carry the window): the same kernel work\n"
             "with no per-segment userspace work. 'on 1 CPU' is tap/floor again with sender and receiver\n"
             "sharing one CPU, where waking the receiver is local and a rate is the inverse of both threads'\n"
             "work per segment. On two CPUs a sender slower than the receiver pays a cross-CPU wakeup inside\n"
             "most writes, which a faster one avoids, so small per-segment costs weigh more there.\n"
             "tcpreplay's frames cross the veth into the same kind of namespace but belong to no connection,\n"
             "so the stack answers them with RSTs instead of queueing them.\n"
             "Pacing error is taken when each write into the TAP starts (as the socket transport takes it\n"
             "before send()); the stack's processing inside the write comes after it.\n");
  return 0;
}

}  // namespace
}  // namespace rcvq

int main(int argc, char** argv) {
  try {
    return rcvq::bench(argc, argv);
  } catch (const rcvq::InputError& e) {
    fmt::print(stderr, "bench-tap: {}\n", e.what());
    return rcvq::kExitBadInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench-tap: {}\n", e.what());
    return rcvq::kExitRunFailed;
  }
}
