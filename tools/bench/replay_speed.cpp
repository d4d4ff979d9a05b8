// Benchmark, not a test: is the instrument the bottleneck? Each of its costs next to
// a reference doing the same work without rcvqbench, in the same run, as ratios:
// bulk replay vs iperf3, the receiver harness vs a minimal epoll reader, the per-frame
// bookkeeping in ns, and peak RSS by frame count. Every address lives in namespaces
// this tool creates.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "common/errors.hpp"
#include "common/stop.hpp"
#include "instrument.hpp"
#include "run/runner.hpp"
#include "scenario/load.hpp"

namespace rcvq::bench {
namespace {

// Rounds of each paired comparison: single rounds on a 2-vCPU VM vary by tens of
// percent, and nine rounds' median still moved by +-10% from run to run.
constexpr int kRounds = 15;

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  double one = 0, five = 0;
  in >> one >> five;
  return fmt::format("{:.1f} (1 min), {:.1f} (5 min) on {} CPUs", one, five, sysconf(_SC_NPROCESSORS_ONLN));
}

void throughput(uint64_t frames) {
  fmt::print("1. bulk replay vs iperf3: {} x {} B frames, cut whole, baseline mode; iperf3 -N -l {} for as many\n"
             "   bytes (it reads {} B at a time), both from the first send to the last byte received, both senders\n"
             "   on the first CPU and receivers on the last (iperf3 -A) (median of {} rounds' ratios, every other\n"
             "   round iperf3 first; goal: ratio >= 0.90)\n",
             frames, kBulkFrameBytes, kBulkFrameBytes, kBulkFrameBytes, kRounds);
  fmt::print("   {:<10} {:>10} {:>14} {:>14} {:>8} {:>13}\n", "transport", "our reads", "replay Gbit/s", "iperf3 Gbit/s",
             "ratio", "ratio min..max");
  for (Transport::Kind kind : {Transport::Kind::Loopback, Transport::Kind::Veth}) {
    for (uint32_t read_size : {kBulkFrameBytes, 65536u}) {
      std::vector<double> ours, theirs, ratios;
      for (int r = 0; r < kRounds; ++r) {
        const Throughput t = replay_vs_iperf3(kind, frames, read_size, r % 2 == 1);
        ours.push_back(t.replay_gbit_s);
        theirs.push_back(t.iperf3_gbit_s);
        ratios.push_back(t.ratio());
      }
      const auto [least, most] = std::minmax_element(ratios.begin(), ratios.end());
      fmt::print("   {:<10} {:>8} B {:>14.2f} {:>14.2f} {:>8.2f} {:>7.2f}..{:.2f}\n", to_string(kind), read_size,
                 median(ours), median(theirs), median(ratios), *least, *most);
    }
  }
}

// "median (least..most)" of each round's ours/theirs - 1, in percent: each round's two
// replays ran back to back, so drift over the rounds cancels in its ratio.
std::string paired_overhead(const std::vector<double>& ours, const std::vector<double>& theirs) {
  std::vector<double> ratios;
  for (size_t r = 0; r < ours.size(); ++r) ratios.push_back(100 * ReceiverCpu::overhead(ours[r], theirs[r]));
  const auto [least, most] = std::minmax_element(ratios.begin(), ratios.end());
  return fmt::format("{:+.0f}% ({:+.0f}..{:+.0f}%)", median(ratios), *least, *most);
}

void receiver_cpu() {
  fmt::print("\n2. receiver thread CPU (task-clock, after warm-up): baseline harness vs a minimal level-triggered\n"
             "   epoll + recv() reader (same read size) and the same reader also hashing, each on its own replay of the\n"
             "   same held plan, {} rounds (each round starts with the next reader), readers on the last CPU,\n"
             "   senders on the first; overhead: median of the rounds' ratios (least..most), per frame and per\n"
             "   wakeup (epoll_wait returns: what a reader adds to each, however the sends' timing grouped the\n"
             "   bytes); goal: overhead < 10%\n",
             kRounds);
  // Held plans, as the minimal readers' senders replay them: a streamed plan's sender
  // generates each frame as it goes, which would change how the bytes reach the reader.
  const std::vector<std::pair<std::string, std::string>> plans{
      {"bulk: 50000 x 4008 B, cut whole, 4008 B reads", R"(
source: {synthetic: {frames: 50000, payload: 4000}}
segmentation: {cut: whole}
receiver: {modes: [baseline], read_size: 4008}
run: {warmup_frames: 5000, plan: held})"},
      {"paced: 2000 x 4008 B, 9 chunks 20 us apart", R"(
source: {synthetic: {frames: 2000, payload: 4000}}
receiver: {modes: [baseline]}
segmentation: {cut: {chunks: 9}, chunk_gap_us: 20, frame_gap_us: 20}
run: {warmup_frames: 200})"}};
  for (const auto& [label, yaml] : plans) {
    Scenario sc = parse_scenario("name: bench-receiver" + yaml, "bench-replay");
    // Both readers on one CPU and both senders on another, so each pair meets the same
    // contention for the socket lock.
    pin_senders_and_receivers_apart(sc);
    std::vector<ReceiverCpu> rounds;
    for (int r = 0; r < kRounds; ++r) rounds.push_back(receiver_cpu_vs_minimal_reader(sc, r % 3));
    auto series = [&](ReaderCost ReceiverCpu::*reader, auto figure) {
      std::vector<double> v;
      for (const ReceiverCpu& c : rounds) v.push_back(figure(c.*reader));
      return v;
    };
    const auto per_frame = [](const ReaderCost& c) { return c.us_per_frame; };
    const auto per_wakeup = [](const ReaderCost& c) { return c.us_per_wakeup(); };
    const auto wakeups = [](const ReaderCost& c) { return c.wakeups_per_frame; };
    fmt::print("   {}\n", label);
    fmt::print("     {:<10} {:>12} {:>16} {:>14}\n", "reader", "us/frame", "wakeups/frame", "us/wakeup");
    for (const auto& [name, reader] : {std::pair{"harness", &ReceiverCpu::harness}, std::pair{"minimal", &ReceiverCpu::minimal},
                                       std::pair{"+hash", &ReceiverCpu::minimal_hashing}})
      fmt::print("     {:<10} {:>12.2f} {:>16.2f} {:>14.2f}\n", name, median(series(reader, per_frame)),
                 median(series(reader, wakeups)), median(series(reader, per_wakeup)));
    for (const auto& [name, figure] : {std::pair{"per frame ", +per_frame}, std::pair{"per wakeup", +per_wakeup}})
      fmt::print("     overhead {}: vs minimal {:<22} vs +hash {}\n", name,
                 paired_overhead(series(&ReceiverCpu::harness, figure), series(&ReceiverCpu::minimal, figure)),
                 paired_overhead(series(&ReceiverCpu::harness, figure), series(&ReceiverCpu::minimal_hashing, figure)));
  }
  fmt::print("   (medians of the rounds; +hash: the minimal reader also computing the integrity hash, so its\n"
             "   overhead is the bookkeeping alone: framing, timestamps, latency recording, counters, probes)\n");
}

void bookkeeping() {
  const BookkeepingCost c = bookkeeping_cost(kBulkFrameBytes);
  fmt::print("\n3. bookkeeping per frame (best of 5 over 2^18 frames; goals: latency < 100 ns, hash < 1000 ns "
             "per 4 KB)\n");
  fmt::print("   completion timestamp (clock read + store)  {:>7.1f} ns\n", c.stamp_ns_per_frame);
  fmt::print("   latency recording (2 histogram records)    {:>7.1f} ns\n", c.latency_ns_per_frame);
  fmt::print("   latency total                              {:>7.1f} ns\n",
             c.stamp_ns_per_frame + c.latency_ns_per_frame);
  fmt::print("   integrity hash of a {} B frame           {:>7.1f} ns\n", c.frame_bytes, c.hash_ns_per_frame);
}

// One row per frame count from 10^4 to `largest`, and how the largest count's peak
// compares with the smallest's; `with_file` adds the capture's file size.
template <typename RunOf>
void print_peak_rss_rows(uint64_t largest, bool with_file, RunOf&& run_of) {
  fmt::print("   {:>10} {:>10} {:>10}{}\n", "frames", "plan", "peak MB", with_file ? fmt::format(" {:>10}", "file MB") : "");
  int64_t smallest_kb = 0, largest_kb = 0;
  for (uint64_t frames = 10'000; frames <= largest; frames *= 10) {
    const RssRun run = run_of(frames);
    fmt::print("   {:>10} {:>10} {:>10.0f}{}\n", frames, run.storage, double(run.peak_kb) / 1024,
               with_file ? fmt::format(" {:>10.0f}", double(run.capture_bytes) / double(1 << 20)) : "");
    if (!smallest_kb) smallest_kb = run.peak_kb;
    largest_kb = run.peak_kb;
  }
  if (smallest_kb)
    fmt::print("   largest / smallest frame count's peak: {:.2f}x\n", double(largest_kb) / double(smallest_kb));
}

void peak_rss(uint64_t largest) {
  const std::string rcvqbench = rcvqbench_beside_this_binary();
  fmt::print("\n5. peak RSS of `rcvqbench run` (bulk 4008 B frames, loopback, baseline, run.plan auto: held\n"
             "   up to 64 MB, streamed above; goal: flat, under 200 MB)\n");
  print_peak_rss_rows(largest, false, [&](uint64_t frames) { return peak_rss_of_run(rcvqbench, frames); });
  // A capture of the same frames, read back from a file 4.1 KB per frame long: capped at
  // 10^6 frames, whose 4 GB file is as much disk as a bench should take.
  fmt::print("   the same frames from a capture (kafka framing, 1448 B segments):\n");
  print_peak_rss_rows(std::min<uint64_t>(largest, 1'000'000), true,
                      [&](uint64_t frames) { return peak_rss_of_capture_run(rcvqbench, frames); });
}

// One baseline repetition of `connections` connections on `threads` receiver and sender
// threads, each connection carrying `frames` 1000-byte frames `gap_us` apart.
nlohmann::json scaling_point(uint32_t connections, uint32_t threads, uint64_t frames, uint32_t gap_us) {
  const Scenario sc = parse_scenario(fmt::format(R"(
name: bench-connections
source: {{synthetic: {{frames: {}, payload: 992}}}}
segmentation: {{cut: whole, frame_gap_us: {}}}
transport: {{kind: loopback}}
sender: {{threads: {}}}
receiver: {{modes: [baseline], connections: {}, threads: {}}}
run: {{repetitions: 1, warmup_frames: 2, timeout_s: 120}}
)",
                                                 frames, gap_us, threads, connections, threads),
                                     "bench-connections");
  RunSettings settings;
  settings.write_results = false;
  settings.quiet = true;
  const RunOutcome out = run_scenario(sc, settings);
  const ModeResult& m = out.result.modes.front();
  if (m.status != "ok" || m.repetitions.empty() || !m.repetitions.front().integrity_ok)
    throw RunError(fmt::format("{} connections on {} threads: {}", connections, threads,
                               m.reason.empty() ? m.repetitions.front().integrity_detail : m.reason));
  return aggregate_metrics(m);
}

void connection_scaling() {
  fmt::print("\n4. many connections (loopback, baseline, 1000 B frames, 20 per connection, 2 ms apart per\n"
             "   connection; every receiver thread's task-clock summed; lateness: the sender's p99 behind plan)\n");
  fmt::print("   {:>11} {:>7} {:>10} {:>12} {:>15}\n", "connections", "threads", "frames/s", "cpu us/frame",
             "p99 lateness us");
  // Each sender thread's ends of its connections are in a descriptor table of its own
  // (SenderThread), so a hard RLIMIT_NOFILE of 20,000 holds 10,000 connections.
  const std::vector<uint32_t> counts{1, 10, 100, 1000, 10000};
  for (uint32_t threads : {1u, 2u})
    for (uint32_t connections : counts) {
      if (connections < threads) continue;
      try {
        const nlohmann::json metrics = scaling_point(connections, threads, 20, 2000);
        const nlohmann::json& cpu = metrics["cpu_us_per_frame"];
        fmt::print("   {:>11} {:>7} {:>10.0f} {:>12} {:>15.1f}\n", connections, threads,
                   metrics["frames_per_s"].get<double>(),
                   cpu.is_number() ? fmt::format("{:.2f}", cpu.get<double>()) : std::string("n/a"),
                   metrics["send_lateness_ns"]["p99"].get<double>() / 1e3);
      } catch (const RunError& e) {
        fmt::print("   {:>11} {:>7} unsupported: {}\n", connections, threads, e.what());
      }
    }
  // The median of three runs per rate: one VM hiccup in a run of a few hundred sends
  // is its p99 alone.
  fmt::print("   highest offered rate with p99 lateness < 50 us (1 connection, 1 thread, 1000 B frames; median\n"
             "   of 3 runs per rate):\n");
  uint32_t kept_gap_us = 0;
  for (uint32_t gap_us : {1000u, 200u, 50u, 20u, 10u, 5u, 2u}) {
    std::vector<double> p99s;
    for (int run = 0; run < 3; ++run)
      p99s.push_back(scaling_point(1, 1, 20000 / std::max(gap_us, 10u) * 10, gap_us)["send_lateness_ns"]["p99"]);
    if (median(p99s) >= 50e3) break;
    kept_gap_us = gap_us;
  }
  if (kept_gap_us)
    fmt::print("   {} frames/s ({} us apart) kept\n", 1'000'000 / kept_gap_us, kept_gap_us);
  else
    fmt::print("   none of the tried rates (from 1000 frames/s) kept\n");
}

int bench(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);  // rows appear as they are measured, also in a pipe
  const uint64_t frames = argc > 1 ? std::stoull(argv[1]) : 200'000;
  const uint64_t rss_largest = argc > 2 ? std::stoull(argv[2]) : 10'000'000;
  fmt::print("rcvqbench instrument benchmark; load average {}\n\n", load_average());
  // Items to run, e.g. "2,3" (default all): a rerun of one need not wait for the others.
  const std::string items = argc > 3 ? argv[3] : "1,2,3,4,5";
  auto wanted = [&](char item) { return items.find(item) != std::string::npos; };
  if (wanted('1')) throughput(frames);
  if (wanted('2')) receiver_cpu();
  if (wanted('3')) bookkeeping();
  if (wanted('4')) connection_scaling();
  if (wanted('5')) peak_rss(rss_largest);
  return 0;
}

}  // namespace
}  // namespace rcvq::bench

int main(int argc, char** argv) {
  rcvq::StopSignal::instance().install();
  rcvq::StopSignal::instance().graceful();
  try {
    return rcvq::bench::bench(argc, argv);
  } catch (const rcvq::InputError& e) {
    fmt::print(stderr, "bench-replay: {}\n", e.what());
    return rcvq::kExitBadInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench-replay: {}\n", e.what());
    return rcvq::StopSignal::instance().requested() ? 130 : rcvq::kExitRunFailed;
  }
}
