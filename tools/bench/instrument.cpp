#include "instrument.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/clock.hpp"
#include "common/errors.hpp"
#include "common/spawn.hpp"
#include "common/stop.hpp"
#include "common/stream_hash.hpp"
#include "plan/plan.hpp"
#include "probes/task_clock.hpp"
#include "results/histogram.hpp"
#include "run/runner.hpp"
#include "run/thread_placement.hpp"
#include "scenario/load.hpp"
#include "transport/network.hpp"

extern char** environ;

namespace rcvq::bench {
namespace {

namespace fs = std::filesystem;

std::string bulk_yaml(Transport::Kind transport, uint64_t frames, uint32_t read_size = kBulkFrameBytes) {
  return fmt::format(R"(
name: bench-bulk
source: {{synthetic: {{frames: {}, payload: {}}}}}
segmentation: {{cut: whole}}
transport: {{kind: {}}}
receiver: {{modes: [baseline], read_size: {}}}
run: {{repetitions: 1, warmup_frames: {}, timeout_s: 120}}
)",
                     frames, kBulkFrameBytes - 8, to_string(transport), read_size, frames / 10);
}

// One repetition of `mode`, required to be intact.
ModeRepetition replay_once(const Scenario& scenario, const std::string& mode) {
  RunSettings settings;
  settings.modes = {mode};
  settings.write_results = false;
  settings.quiet = true;
  const RunOutcome outcome = run_scenario(scenario, settings);
  if (outcome.interrupted) throw RunError("interrupted");
  const ModeResult& m = outcome.result.modes.front();
  if (m.status != "ok" || m.repetitions.empty())
    throw RunError(fmt::format("{} {}: {}", scenario.name, mode, m.reason.empty() ? m.status : m.reason));
  if (!m.repetitions.front().integrity_ok)
    throw RunError(fmt::format("{} {}: {}", scenario.name, mode, m.repetitions.front().integrity_detail));
  return m.repetitions.front();
}

// A child with a fresh process's signal state, its output in a file; killed and
// reaped on destruction if still running.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& output) {
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&files, STDOUT_FILENO, STDERR_FILENO);
    const ChildSignalDefaults attr;
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int error = posix_spawnp(&pid_, args[0], &files, attr.get(), args.data(), environ);
    posix_spawn_file_actions_destroy(&files);
    if (error != 0) {
      errno = error;
      throw_errno(fmt::format("cannot start {}", argv[0]));
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      wait();
    }
  }
  // Exit status as waitpid gives it.
  int wait() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }
  // Waits up to `timeout_ns`; a child still running then is killed. False if it was.
  bool wait_at_most(int64_t timeout_ns) {
    const int64_t deadline = monotonic_ns() + timeout_ns;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (monotonic_ns() > deadline) return false;  // the destructor kills it
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    return true;
  }

 private:
  pid_t pid_ = -1;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A scratch directory removed on destruction.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "rcvq-bench-replay.XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw_errno("mkdtemp");
    path = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// iperf3 across the namespaces and addresses the transport's own run uses (a fresh
// Network of the same scenario), its server where the harness listens.
// iperf3 on the CPU the scenario pins the matching thread of ours to (-A), if any.
void pin_like(const CpuPinning& pinning, std::vector<std::string>& iperf3_args) {
  if (pinning.cpus.empty()) return;
  iperf3_args.push_back("-A");
  iperf3_args.push_back(std::to_string(pinning.cpus.front()));
}

double iperf3_gbit_s(const Scenario& scenario, uint64_t bytes) {
  std::unique_ptr<Network> net = make_network(scenario);
  if (!net->sender_netns()) throw RunError("this transport has no kernel-socket sender to compare with iperf3");
  const Endpoint ep = net->listen_endpoint();
  const std::string server_ip = ep.text.substr(0, ep.text.rfind(':'));
  const std::string port = std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(&ep.addr)->sin_port));
  ScratchDir scratch;
  std::optional<Child> server;
  {
    NetnsGuard inside(net->receiver_netns());
    std::vector<std::string> args{"iperf3", "-s", "-1", "-B", server_ip, "-p", port};
    pin_like(scenario.receiver.cpu, args);
    server.emplace(args, (scratch.path / "server.txt").string());
  }
  const std::string client_out = (scratch.path / "client.json").string();
  // The server listens a moment after it starts: a refused client is tried again.
  for (int attempt = 0;; ++attempt) {
    int status;
    {
      NetnsGuard inside(*net->sender_netns());
      std::vector<std::string> args{"iperf3", "-c", server_ip, "-p", port, "-N", "-l", std::to_string(kBulkFrameBytes),
                                    "-n", std::to_string(bytes), "-J"};
      pin_like(scenario.sender.cpu, args);
      Child client(args, client_out);
      status = client.wait();
    }
    const std::string text = slurp(client_out);
    nlohmann::json report = nlohmann::json::parse(text, nullptr, false);
    // iperf3 3.12 may exit 0 with an "error" in its JSON.
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && report.is_object() && !report.contains("error")) {
      // It serves one test (-1) and then ends.
      if (!server->wait_at_most(5'000'000'000)) throw RunError("the iperf3 server did not end after its test");
      return report.at("end").at("sum_received").at("bits_per_second").get<double>() / 1e9;
    }
    const bool refused = text.find("Connection refused") != std::string::npos;
    if (!refused || attempt == 50 || StopSignal::instance().requested())
      throw RunError(fmt::format("iperf3 client failed: {} (server: {})", text, slurp((scratch.path / "server.txt").string())));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The reference receiver: level-triggered epoll and recv() into one buffer, counting
// bytes (and hashing them with `hash`); no framing, timestamps or counters. Returns
// CPU ns per measured frame.
ReaderCost minimal_reader_cost(const Scenario& sc, const ReplayPlan& plan, bool hash) {
  std::unique_ptr<Network> net = make_network(sc);
  const Endpoint ep = net->listen_endpoint();
  int listener;
  {
    NetnsGuard inside(net->receiver_netns());
    listener = socket(ep.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  }
  if (listener < 0 || bind(listener, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) != 0 || listen(listener, 4) != 0)
    throw_errno("minimal reader's listener");
  std::unique_ptr<Replayer> replayer = net->make_replayer(sc);
  replayer->connect(1);
  const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  close(listener);
  if (fd < 0) throw_errno("accept");
  const uint64_t measure_from = plan.frames[plan.warmup_frames].start;
  int64_t cpu_start = -1, cpu_end = -1;
  uint64_t wakeups = 0;
  std::exception_ptr reader_error;
  std::thread reader([&] {
    pthread_setname_np(pthread_self(), "rcvq-minimal");
    try {
      pin_calling_thread(sc.receiver.cpu.for_thread(0), "minimal reader");
      TaskClock clock = TaskClock::of_calling_thread();
      if (!clock.available()) throw RunError("task-clock: " + clock.reason());
      const int ep_fd = epoll_create1(EPOLL_CLOEXEC);
      epoll_event ev{};
      ev.events = EPOLLIN;
      if (ep_fd < 0 || epoll_ctl(ep_fd, EPOLL_CTL_ADD, fd, &ev) != 0) throw_errno("epoll");
      std::vector<uint8_t> buffer(sc.receiver.read_size);
      StreamHash stream_hash;
      uint64_t received = 0;
      if (measure_from == 0) cpu_start = clock.ns();
      const auto measuring = [&] { return cpu_start >= 0; };
      const int64_t deadline = monotonic_ns() + int64_t(sc.run.timeout_s * 1e9);
      // The clock only when epoll_wait comes back empty: a hand-written reader reads
      // it for its timeout, not per wakeup.
      while (received < plan.stream.size()) {
        if (epoll_wait(ep_fd, &ev, 1, 50) != 1) {
          if (monotonic_ns() > deadline) break;
          continue;
        }
        if (measuring()) ++wakeups;
        const ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
        if (n == 0) break;
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) continue;
          throw_errno("recv");
        }
        received += uint64_t(n);
        if (hash) stream_hash.update(std::span(buffer.data(), size_t(n)));
        if (cpu_start < 0 && received >= measure_from) cpu_start = clock.ns();
      }
      cpu_end = clock.ns();
      close(ep_fd);
      if (received != plan.stream.size())
        throw RunError(fmt::format("minimal reader got {} of {} bytes", received, plan.stream.size()));
      if (hash && stream_hash.value() != plan.stream_hash())
        throw RunError("the minimal reader's bytes differ from the plan's stream");
    } catch (...) {
      reader_error = std::current_exception();
    }
  });
  std::vector<int64_t> sent_ns;
  // On the harness's sender CPU, on a thread of its own as the harness's sender is.
  std::exception_ptr sender_error;
  std::thread sender([&] {
    try {
      pin_calling_thread(sc.sender.cpu.for_thread(0), "minimal reader's sender");
      replayer->replay(plan, monotonic_ns() + 20'000'000, sent_ns, StopSignal::instance());
      replayer->finish();
    } catch (...) {
      sender_error = std::current_exception();
    }
  });
  sender.join();
  reader.join();
  if (sender_error) std::rethrow_exception(sender_error);
  close(fd);
  if (reader_error) std::rethrow_exception(reader_error);
  const double frames = double(plan.frames.size() - plan.warmup_frames);
  return {double(cpu_end - cpu_start) / 1e3 / frames, double(wakeups) / frames};
}

// Best (least disturbed) of `rounds` timings of fn(), in ns per call of `per`.
template <typename Fn>
double best_ns(int rounds, uint64_t per, Fn&& fn) {
  double best = 1e300;
  for (int r = 0; r < rounds; ++r) {
    const int64_t start = monotonic_ns();
    fn();
    best = std::min(best, double(monotonic_ns() - start) / double(per));
  }
  return best;
}

}  // namespace

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void pin_senders_and_receivers_apart(Scenario& scenario) {
  if (const std::vector<int> cpus = allowed_cpus(); cpus.size() >= 2) {
    scenario.sender.cpu.cpus = {uint32_t(cpus.front())};
    scenario.receiver.cpu.cpus = {uint32_t(cpus.back())};
  }
}

Scenario bulk_scenario(Transport::Kind transport, uint64_t frames, uint32_t read_size) {
  return parse_scenario(bulk_yaml(transport, frames, read_size), "bench-bulk");
}

Throughput replay_vs_iperf3(Transport::Kind transport, uint64_t frames, uint32_t read_size, bool iperf3_first) {
  Throughput t;
  Scenario sc = bulk_scenario(transport, frames, read_size);
  pin_senders_and_receivers_apart(sc);
  const auto replay = [&] {
    const ModeRepetition rep = replay_once(sc, "baseline");
    // Every bulk frame is due at the start (no gaps), so the largest latency is the time
    // from the first send to the last frame's arrival: the whole transfer, slow start
    // included, as iperf3 reports it.
    if (rep.latency.max() <= 0) throw RunError("the bulk replay measured no time");
    t.replay_gbit_s = double(frames * kBulkFrameBytes) * 8 / double(rep.latency.max());
  };
  if (!iperf3_first) replay();
  t.iperf3_gbit_s = iperf3_gbit_s(sc, frames * kBulkFrameBytes);
  if (iperf3_first) replay();
  return t;
}

ReceiverCpu receiver_cpu_vs_minimal_reader(const Scenario& scenario, int first) {
  ReceiverCpu r;
  const ReplayPlan plan = build_plan(scenario, load_source(scenario));
  const std::function<void()> readers[] = {
      [&] {
        const ModeRepetition rep = replay_once(scenario, "baseline");
        if (!rep.cpu_us.value) throw RunError("receiver CPU: " + rep.cpu_us.reason);
        r.harness = {*rep.cpu_us.value / double(rep.frames), double(rep.counters.wakeups) / double(rep.frames)};
      },
      [&] { r.minimal = minimal_reader_cost(scenario, plan, false); },
      [&] { r.minimal_hashing = minimal_reader_cost(scenario, plan, true); }};
  for (int k = 0; k < 3; ++k) readers[(first + k) % 3]();
  return r;
}

BookkeepingCost bookkeeping_cost(uint32_t frame_bytes) {
  BookkeepingCost c;
  c.frame_bytes = frame_bytes;
  constexpr uint64_t kFrames = 1 << 18;
  // Connection::receive: the clock read after recv() and one stored time per frame.
  std::vector<int64_t> done;
  c.stamp_ns_per_frame = best_ns(5, kFrames, [&] {
    done = {};
    for (uint64_t f = 0; f < kFrames; ++f) done.insert(done.end(), 1, monotonic_ns());
  });
  // ReceiverHarness::measurements: latency from the due time and from the send.
  std::vector<int64_t> due(kFrames), sent(kFrames);
  for (uint64_t f = 0; f < kFrames; ++f) {
    due[f] = done[f] - int64_t(1000 + (f * 7919) % 1'000'000);
    sent[f] = due[f] + int64_t((f * 104729) % 50'000);
  }
  c.latency_ns_per_frame = best_ns(5, kFrames, [&] {
    Histogram latency, from_send;
    for (uint64_t f = 0; f < kFrames; ++f) {
      latency.record(done[f] - due[f]);
      from_send.record(done[f] - sent[f]);
    }
    if (latency.count() != kFrames || from_send.count() != kFrames) throw RunError("histogram lost samples");
  });
  // The receiver's StreamHash, fed in 64 KiB reads as the default read_size gives it.
  const Scenario sc = parse_scenario(fmt::format("source: {{synthetic: {{frames: 512, payload: {}}}}}\n", frame_bytes - 8),
                                     "bench-hash");
  const ReplayPlan plan = build_plan(sc, load_source(sc));
  uint64_t sink = 0;
  c.hash_ns_per_frame = best_ns(5, plan.frames.size(), [&] {
    StreamHash hash;
    for (size_t at = 0; at < plan.stream.size(); at += 65536)
      hash.update(std::span(plan.stream.data() + at, std::min<size_t>(65536, plan.stream.size() - at)));
    sink += hash.value();
  });
  if (sink == 0) throw RunError("hash of the stream was 0 every time");
  return c;
}

namespace {

// Peak RSS of `rcvqbench run` on the scenario `yaml`, written into `scratch`.
RssRun peak_rss_of(const std::string& rcvqbench, const ScratchDir& scratch, const std::string& yaml) {
  const std::string scenario = (scratch.path / "rss.yaml").string();
  std::ofstream(scenario) << yaml;
  const std::string log = (scratch.path / "run.txt").string(), peak = (scratch.path / "peak_kb").string();
  const std::string results = (scratch.path / "results").string();
  // Through GNU time, which forks: a child spawned from this process would inherit its
  // high-water mark (exec records the old address space's peak as the child's).
  Child run({"/usr/bin/time", "-f", "%M", "-o", peak, rcvqbench, "run", scenario, "--results-dir", results, "--quiet"},
            log);
  const int status = run.wait();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw RunError(fmt::format("{} run failed: {}", rcvqbench, slurp(log)));
  const nlohmann::json result = nlohmann::json::parse(slurp(results + "/run.json"));
  return {std::stoll(slurp(peak)), result["plan"]["storage"].get<std::string>()};
}

// One IPv4 TCP connection over Ethernet, client to server: the handshake, then `frames`
// kafka frames of kBulkFrameBytes in 1448-byte segments, each packet 1 us after the one
// before. Written a packet at a time: the file may be larger than this process may hold.
void write_bulk_capture(const std::string& path, uint64_t frames) {
  constexpr uint32_t kMss = 1448, kIsn = 1000;
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* out = pcap_dump_open(dead, path.c_str());
  if (!out) throw RunError(fmt::format("{}: {}", path, pcap_geterr(dead)));
  std::vector<uint8_t> packet;
  int64_t time_us = 0;
  auto put = [&](bool from_client, uint32_t seq, uint8_t flags, uint64_t stream_offset, uint32_t length) {
    packet.assign(54, 0);
    packet[12] = 0x08;                                                  // IPv4
    packet[14] = 0x45;
    const uint16_t ip_length = htons(uint16_t(40 + length));
    std::memcpy(&packet[16], &ip_length, 2);
    packet[22] = 64;
    packet[23] = 6;                                                     // TCP
    const uint8_t client[4] = {10, 0, 0, 1}, server[4] = {10, 0, 0, 2};
    std::memcpy(&packet[26], from_client ? client : server, 4);
    std::memcpy(&packet[30], from_client ? server : client, 4);
    const uint16_t client_port = htons(40000), server_port = htons(9092);
    std::memcpy(&packet[34], from_client ? &client_port : &server_port, 2);
    std::memcpy(&packet[36], from_client ? &server_port : &client_port, 2);
    const uint32_t seq_be = htonl(seq);
    std::memcpy(&packet[38], &seq_be, 4);
    packet[46] = 0x50;
    packet[47] = flags;
    packet[48] = 0xff;
    for (uint64_t o = stream_offset; o < stream_offset + length; ++o) {
      const uint64_t at = o % kBulkFrameBytes;
      packet.push_back(at < 4 ? uint8_t((kBulkFrameBytes - 4) >> (8 * (3 - at))) : uint8_t(o * 31 + o / kBulkFrameBytes));
    }
    pcap_pkthdr header{};
    header.ts.tv_sec = time_us / 1'000'000;
    header.ts.tv_usec = time_us % 1'000'000;
    header.caplen = header.len = uint32_t(packet.size());
    pcap_dump(reinterpret_cast<u_char*>(out), &header, packet.data());
    ++time_us;
  };
  put(true, kIsn, 0x02, 0, 0);
  put(false, 7000, 0x12, 0, 0);
  put(true, kIsn + 1, 0x10, 0, 0);
  const uint64_t stream_bytes = frames * kBulkFrameBytes;
  for (uint64_t offset = 0; offset < stream_bytes; offset += kMss)
    put(true, uint32_t(kIsn + 1 + offset), 0x18, offset, uint32_t(std::min<uint64_t>(kMss, stream_bytes - offset)));
  pcap_dump_close(out);
  pcap_close(dead);
}

}  // namespace

RssRun peak_rss_of_run(const std::string& rcvqbench, uint64_t frames) {
  ScratchDir scratch;
  return peak_rss_of(rcvqbench, scratch, bulk_yaml(Transport::Kind::Loopback, frames));
}

RssRun peak_rss_of_capture_run(const std::string& rcvqbench, uint64_t frames) {
  ScratchDir scratch;
  const std::string capture = (scratch.path / "bulk.pcap").string();
  write_bulk_capture(capture, frames);
  RssRun run = peak_rss_of(rcvqbench, scratch, fmt::format(R"(
name: bench-capture
source: {{capture: {{path: {}}}}}
framing: kafka
segmentation: {{cut: whole}}
transport: {{kind: loopback}}
receiver: {{modes: [baseline], read_size: {}}}
run: {{repetitions: 1, warmup_frames: {}, timeout_s: 120}}
)",
                                                     capture, kBulkFrameBytes, frames / 10));
  run.capture_bytes = fs::file_size(capture);
  return run;
}

std::string rcvqbench_beside_this_binary() {
  return (fs::read_symlink("/proc/self/exe").parent_path() / "rcvqbench").string();
}

}  // namespace rcvq::bench
