// instrument/...: the instrument's own costs as Google Benchmark counters, so the gate
// catches the replayer falling behind iperf3 or memory growing (counters, not times:
// a loaded host slows both sides of the ratio alike).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdlib>
#include <vector>

#include "benchmarks.hpp"
#include "gate/bench_results.hpp"
#include "instrument.hpp"

namespace rcvq::bench {
namespace {

constexpr uint64_t kThroughputFrames = 50'000;
// One pair's ratio ranges over 0.6-1.8 on a 2-vCPU VM (TCP settles in a per-segment or a
// coalescing regime, bench-replay's item 1): the counter is the median of several.
constexpr int kThroughputRounds = 5;
constexpr uint64_t kRssFrames = 100'000;

bool iperf3_installed() { return std::system("command -v iperf3 >/dev/null 2>&1") == 0; }

void throughput_vs_iperf3(benchmark::State& state, Transport::Kind transport) {
  if (!iperf3_installed()) {
    state.SkipWithError(fmt::format("{}iperf3 is not installed (tools/setup installs it)", kUnsupportedErrorPrefix).c_str());
    return;
  }
  for (auto _ : state) {
    try {
      std::vector<Throughput> rounds;
      for (int r = 0; r < kThroughputRounds; ++r)
        rounds.push_back(replay_vs_iperf3(transport, kThroughputFrames, kBulkFrameBytes, r % 2 == 1));
      const auto median_of = [&](auto figure) {
        std::vector<double> v;
        for (const Throughput& t : rounds) v.push_back(figure(t));
        return median(v);
      };
      state.counters["iperf3_throughput_ratio"] = median_of([](const Throughput& t) { return t.ratio(); });
      state.counters["replay_gbit_s"] = median_of([](const Throughput& t) { return t.replay_gbit_s; });
      state.counters["iperf3_gbit_s"] = median_of([](const Throughput& t) { return t.iperf3_gbit_s; });
    } catch (const std::exception& e) {
      state.SkipWithError(fmt::format("failed: {}", e.what()).c_str());
      break;
    }
  }
}

void peak_rss(benchmark::State& state) {
  for (auto _ : state) {
    try {
      const RssRun run = peak_rss_of_run(rcvqbench_beside_this_binary(), kRssFrames);
      state.counters["peak_rss_mb"] = double(run.peak_kb) / 1024;
    } catch (const std::exception& e) {
      state.SkipWithError(fmt::format("failed: {}", e.what()).c_str());
      break;
    }
  }
}

}  // namespace

void register_instrument_benchmarks() {
  for (Transport::Kind kind : {Transport::Kind::Loopback, Transport::Kind::Veth})
    benchmark::RegisterBenchmark(fmt::format("instrument/bulk_vs_iperf3/{}", to_string(kind)).c_str(),
                                 [kind](benchmark::State& s) { throughput_vs_iperf3(s, kind); })
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(fmt::format("instrument/peak_rss/bulk_{}_frames", kRssFrames).c_str(), peak_rss)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace rcvq::bench
