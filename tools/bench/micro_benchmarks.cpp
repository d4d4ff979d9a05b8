// Microbenchmarks of the per-byte and per-frame hot paths, on inputs built the way a
// real run builds them (synthetic streams from the scenario loader, the planner's cuts).
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

#include "benchmarks.hpp"
#include "capture/reassembly.hpp"
#include "common/errors.hpp"
#include "common/stream_hash.hpp"
#include "framing/framing.hpp"
#include "plan/plan.hpp"
#include "receiver/connection.hpp"
#include "results/histogram.hpp"
#include "scenario/load.hpp"
#include "source/source_stream.hpp"
#include "source/synthetic_payload.hpp"

namespace rcvq::bench {
namespace {

Scenario synthetic_scenario(const std::string& framing, uint64_t frames, const std::string& cut) {
  return parse_scenario(fmt::format("name: micro\n"
                                    "source: {{synthetic: {{frames: {}, payload: {{min: 64, max: 8000}}, seed: 5}}}}\n"
                                    "framing: {}\n"
                                    "segmentation: {{cut: {}, chunk_gap_us: 100}}\n",
                                    frames, framing, cut),
                        "<micro>");
}

// FrameScanner over a stream of ~4 KB frames fed in reads of `read_size` bytes: the
// receiver's per-read framing cost for each length-prefix codec.
void frame_scanner(benchmark::State& state, const std::string& framing_name) {
  const Scenario sc = synthetic_scenario(framing_name, 2000, "whole");
  const SourceStream source = generate_synthetic(sc);
  const size_t read_size = size_t(state.range(0));
  std::vector<uint64_t> ends;
  ends.reserve(4096);
  uint64_t frames = 0;
  for (auto _ : state) {
    FrameScanner scanner(sc.framing);
    ends.clear();
    for (size_t at = 0; at < source.bytes.size(); at += read_size) {
      const size_t n = std::min(read_size, source.bytes.size() - at);
      scanner.feed(std::span(source.bytes.data() + at, n), ends);
    }
    if (scanner.malformed()) {
      state.SkipWithError("failed: the scanner rejected the generated stream");
      break;
    }
    frames += ends.size();
    benchmark::DoNotOptimize(ends.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * source.bytes.size()));
  state.counters["frames"] = benchmark::Counter(double(frames), benchmark::Counter::kIsRate);
}

// The frame assembler of one connection without the socket: hash + scan per read,
// as Connection::receive does after recv() returns.
void assembler_in_memory(benchmark::State& state) {
  const Scenario sc = synthetic_scenario("desc8", 2000, "whole");
  const SourceStream source = generate_synthetic(sc);
  const size_t read_size = size_t(state.range(0));
  std::vector<uint64_t> ends;
  for (auto _ : state) {
    FrameScanner scanner(sc.framing);
    StreamHash hash;
    for (size_t at = 0; at < source.bytes.size(); at += read_size) {
      const std::span<const uint8_t> bytes(source.bytes.data() + at, std::min(read_size, source.bytes.size() - at));
      hash.update(bytes);
      ends.clear();
      scanner.feed(bytes, ends);
    }
    benchmark::DoNotOptimize(hash.value());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * source.bytes.size()));
}

// Connection::receive on an AF_UNIX stream pair: one write and one counted recv per
// iteration, the assembler included — the userspace floor of a wakeup's work.
void assembler_socketpair(benchmark::State& state) {
  // Enough stream for the fixed iteration count registered below.
  const Scenario sc = synthetic_scenario("desc8", 500, "whole");
  const SourceStream source = generate_synthetic(sc);
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    state.SkipWithError("failed: socketpair");
    return;
  }
  ReceiverCounters counters;
  Connection conn(fds[0], sc.framing, counters, 0);
  std::vector<uint8_t> buf(65536);
  const size_t chunk = size_t(state.range(0));
  size_t at = 0;
  for (auto _ : state) {
    if (at + chunk > source.bytes.size()) {
      state.SkipWithError("failed: stream exhausted; raise the frame count");
      break;
    }
    if (write(fds[1], source.bytes.data() + at, chunk) != ssize_t(chunk)) {
      state.SkipWithError("failed: write");
      break;
    }
    size_t got = 0;
    while (got < chunk) {
      const ssize_t n = conn.receive(buf.data(), buf.size());
      if (n <= 0) break;
      got += size_t(n);
    }
    at += chunk;
  }
  close(fds[1]);
  state.SetBytesProcessed(int64_t(state.iterations() * chunk));
  state.counters["frames"] = double(conn.frames_completed());
}

// TCP reassembly of one captured direction: in order, with every other pair of
// segments swapped, and with every segment retransmitted once.
enum class Arrival { InOrder, SwappedPairs, Retransmitted };

class CountingSink : public StreamSink {
 public:
  void on_data(uint64_t, std::span<const uint8_t> bytes, int64_t, uint64_t) override { bytes_ += bytes.size(); }
  void on_gap(uint64_t, uint64_t length, uint64_t) override { gap_ += length; }
  uint64_t bytes_ = 0, gap_ = 0;
};

void reassembly(benchmark::State& state, Arrival arrival) {
  constexpr uint32_t kMss = 1448, kIsn = 1000;
  std::vector<uint8_t> payload(4 << 20);
  std::mt19937_64 rng(9);
  for (auto& b : payload) b = uint8_t(rng());
  std::vector<TcpSegment> segments;
  TcpSegment syn;
  syn.flags = kTcpSyn;
  syn.seq = kIsn;
  segments.push_back(syn);
  for (uint32_t off = 0; off < payload.size(); off += kMss) {
    TcpSegment s;
    s.flags = kTcpAck;
    s.seq = kIsn + 1 + off;
    s.payload = payload.data() + off;
    s.captured_payload = s.payload_length = std::min<uint32_t>(kMss, uint32_t(payload.size()) - off);
    segments.push_back(s);
    if (arrival == Arrival::Retransmitted) segments.push_back(s);
  }
  if (arrival == Arrival::SwappedPairs)
    for (size_t i = 1; i + 1 < segments.size(); i += 4) std::swap(segments[i], segments[i + 1]);
  for (auto _ : state) {
    CountingSink sink;
    DirectionReassembler r(ReassemblyLimits{}, &sink);
    uint64_t packet = 0;
    for (const TcpSegment& s : segments) {
      ++packet;
      r.on_segment(s, packet, int64_t(packet) * 1000, s.payload_length + 54);
    }
    r.finish();
    if (sink.bytes_ != payload.size() || sink.gap_ != 0) {
      state.SkipWithError("failed: reassembly lost bytes");
      break;
    }
  }
  state.SetBytesProcessed(int64_t(state.iterations() * payload.size()));
  state.counters["segments"] = benchmark::Counter(double(segments.size()), benchmark::Counter::kIsIterationInvariantRate);
}

// The planner over 2000 frames with the given cut: the cost of `rcvqbench plan` and
// of every run's setup.
void planner(benchmark::State& state, const std::string& cut) {
  const Scenario sc = synthetic_scenario("desc8", 2000, cut);
  const SourceStream source = generate_synthetic(sc);
  uint64_t segments = 0;
  for (auto _ : state) {
    state.PauseTiming();
    SourceStream copy = source;
    state.ResumeTiming();
    const ReplayPlan plan = build_plan(sc, std::move(copy));
    segments = plan.segments.size();
    benchmark::DoNotOptimize(plan.frames.data());
  }
  state.counters["segments"] = double(segments);
}

// Recording frame latencies (1 us .. 10 ms, log-spread) into the HdrHistogram layout.
void histogram_record(benchmark::State& state) {
  std::vector<int64_t> values(1 << 16);
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> exponent(3, 7);
  for (auto& v : values) v = int64_t(std::pow(10.0, exponent(rng)));
  Histogram h;
  size_t i = 0;
  for (auto _ : state) {
    h.record(values[i++ & (values.size() - 1)]);
  }
  benchmark::DoNotOptimize(h.count());
  state.SetItemsProcessed(int64_t(state.iterations()));
}

void histogram_percentiles(benchmark::State& state) {
  Histogram h;
  std::mt19937_64 rng(4);
  for (int i = 0; i < 100000; ++i) h.record(int64_t(1000 + rng() % 10'000'000));
  for (auto _ : state) {
    benchmark::DoNotOptimize(h.value_at_percentile(50));
    benchmark::DoNotOptimize(h.value_at_percentile(99));
  }
}

// A synthetic frame body generated: what a streamed plan's sender does before every
// frame it sends.
void synthetic_payload(benchmark::State& state) {
  const SyntheticPayload payload(1);
  std::vector<uint8_t> body(size_t(state.range(0)));
  uint64_t frame = 0;
  for (auto _ : state) {
    payload.fill(frame++, body);
    benchmark::DoNotOptimize(body.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * body.size()));
}

}  // namespace

void register_micro_benchmarks() {
  for (const char* framing : {"desc8", "kafka", "dns-tcp", "mysql", "mongodb", "http2", "tls"})
    benchmark::RegisterBenchmark(fmt::format("micro/framing/scanner/{}", framing).c_str(),
                                 [framing](benchmark::State& s) { frame_scanner(s, framing); })
        ->Arg(1448)
        ->Arg(65536);
  benchmark::RegisterBenchmark("micro/assembler/in_memory", assembler_in_memory)->Arg(1448)->Arg(65536);
  benchmark::RegisterBenchmark("micro/assembler/socketpair", assembler_socketpair)->Arg(512)->Arg(4008)->Iterations(400);
  for (auto [name, arrival] : {std::pair{"in_order", Arrival::InOrder},
                               {"swapped_pairs", Arrival::SwappedPairs},
                               {"retransmitted", Arrival::Retransmitted}})
    benchmark::RegisterBenchmark(fmt::format("micro/capture/reassembly/{}", name).c_str(),
                                 [arrival](benchmark::State& s) { reassembly(s, arrival); })
        ->Unit(benchmark::kMicrosecond);
  for (auto [name, cut] : {std::pair{"chunks9", "{chunks: 9}"}, {"random", "{random: {min: 100, max: 3000}}"},
                           {"split_descriptor", "{split-descriptor: 2}"}})
    benchmark::RegisterBenchmark(fmt::format("micro/plan/build/{}", name).c_str(),
                                 [cut](benchmark::State& s) { planner(s, cut); })
        ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("micro/synthetic/payload", synthetic_payload)->Arg(4000)->Arg(65536);
  benchmark::RegisterBenchmark("micro/histogram/record", histogram_record);
  benchmark::RegisterBenchmark("micro/histogram/percentiles", histogram_percentiles);
}

}  // namespace rcvq::bench
