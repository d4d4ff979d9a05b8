// Benchmark, not a test: how fast the tap transport injects segments into the
// receiver's stack while the receiver drains, next to `tcpreplay --topspeed` sending
// the same frames out of a veth whose peer sits in the receiver's namespace; then the
// pacing error at 10k segments/s. Every address lives in namespaces this tool creates.
#include <pcap/pcap.h>
#include <poll.h>
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
#include "transport/tap/tap_network.hpp"

namespace rcvq {
namespace {

struct TapResult {
  double segments_per_s = 0;
  nlohmann::json stats;
};

// One connection, one receiver thread reading everything, the plan replayed at once.
TapResult run_tap(const std::string& yaml) {
  const Scenario sc = parse_scenario(yaml, "bench-tap");
  const ReplayPlan plan = build_plan(sc, load_source(sc));
  std::unique_ptr<Network> net = make_tap_network(sc);
  const Endpoint ep = net->listen_endpoint();
  int listener;
  {
    NetnsGuard inside(net->receiver_netns());
    listener = socket(ep.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  }
  if (listener < 0 || bind(listener, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) != 0 ||
      listen(listener, 4) != 0)
    throw_errno("receiver listener");
  std::unique_ptr<Replayer> replayer = net->make_replayer(sc);
  replayer->connect(1);
  const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) throw_errno("accept");
  uint64_t received = 0;
  std::thread drain([&] {
    std::vector<uint8_t> buf(1 << 20);
    for (ssize_t n; (n = recv(fd, buf.data(), buf.size(), 0)) > 0;) received += uint64_t(n);
  });
  std::vector<int64_t> sent;
  const StopSignal stop;
  replayer->replay(plan, monotonic_ns() + 1'000'000, sent, stop);
  replayer->finish();
  drain.join();
  close(fd);
  close(listener);
  if (received != plan.stream.size())
    throw RunError(fmt::format("receiver got {} of {} bytes", received, plan.stream.size()));
  TapResult r;
  r.stats = replayer->stats();
  r.segments_per_s = r.stats.value("injection_segments_per_s", 0.0);
  return r;
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

int bench(int argc, char** argv) {
  const uint32_t segments = argc > 1 ? uint32_t(std::stoul(argv[1])) : 50000;
  fmt::print("rcvqbench tap injection benchmark ({} segments per size, one connection, receiver draining)\n\n",
             segments);
  fmt::print("{:>10} {:>8} {:>16} {:>18} {:>8}\n", "payload B", "frame B", "tap seg/s", "tcpreplay pkt/s",
             "ratio");
  for (uint32_t payload : {1000u, 12u}) {
    const Scenario sc = parse_scenario(topspeed_yaml(payload, segments), "bench-tap");
    const TapResult tap = run_tap(topspeed_yaml(payload, segments));
    // tcpreplay goes into a fresh tap network's namespace: the same kind of stack.
    std::unique_ptr<Network> net = make_tap_network(sc);
    const uint32_t pcap_frames = std::min<uint32_t>(segments, 10000);
    const double tcpreplay = run_tcpreplay(net->receiver_netns(), payload, pcap_frames,
                                           std::max<uint32_t>(1, segments / pcap_frames));
    fmt::print("{:>10} {:>8} {:>16.0f} {:>18.0f} {:>8.2f}\n", payload, payload + 54, tap.segments_per_s, tcpreplay,
               tap.segments_per_s / tcpreplay);
  }
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
             "inside the write (NAPI); tcpreplay's frames cross the veth into the same kind of namespace but\n"
             "belong to no connection, so the stack answers them with RSTs instead of queueing them.\n"
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
