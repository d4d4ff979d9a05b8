#pragma once
// The instrument's own costs, each measured next to a reference that does the same
// work without rcvqbench: shared by tools/bench-replay (prints ratios) and
// rcvqbench-bench (instrument/... counters for the gate).
#include <cstdint>
#include <string>
#include <vector>

#include "scenario/scenario.hpp"

namespace rcvq::bench {

// Bulk: `frames` desc8 frames of kBulkFrameBytes, `cut: whole`, baseline mode: every
// frame is one 4008-byte send, as iperf3 -l 4008 writes. The receiver reads
// `read_size` bytes at a time: 4008 is iperf3's own read size; rcvqbench's default
// 64 KiB makes loopback bistable (a receiver that keeps up sees every send as its own
// skb at ~5.5 Gbit/s here, one that falls behind lets the sender's TCP merge sends into
// 64 KiB skbs at ~11).
constexpr uint32_t kBulkFrameBytes = 4008;
// Senders on the first allowed CPU and receivers on the last (when there are two): where
// the scheduler puts two busy threads moves single rounds by tens of percent, and each
// reference is pinned alike.
void pin_senders_and_receivers_apart(Scenario& scenario);

// The middle value (the upper of the two middle ones for an even count).
double median(std::vector<double> v);

Scenario bulk_scenario(Transport::Kind transport, uint64_t frames, uint32_t read_size = kBulkFrameBytes);

struct Throughput {
  double replay_gbit_s = 0;  // every frame's bytes from the first send to the last frame's arrival
  double iperf3_gbit_s = 0;  // iperf3's receiver-side figure for as many bytes
  double ratio() const { return iperf3_gbit_s > 0 ? replay_gbit_s / iperf3_gbit_s : 0; }
};
// One bulk replay, then iperf3 (-N, the replayer's TCP_NODELAY) with the same write
// size and byte count from the sender's to the receiver's namespace of a fresh network
// of the same scenario (same devices, offloads and addresses); `iperf3_first` runs them
// the other way round. Throws RunError when iperf3 is missing or fails.
Throughput replay_vs_iperf3(Transport::Kind transport, uint64_t frames, uint32_t read_size = kBulkFrameBytes,
                            bool iperf3_first = false);

// One reader's receiver-thread CPU over the measured frames, and its wakeups (epoll_wait
// returns with an event): per wakeup is what a reader's own work adds to each, whatever
// the sends' timing made of the frames.
struct ReaderCost {
  double us_per_frame = 0;
  double wakeups_per_frame = 0;
  double us_per_wakeup() const { return wakeups_per_frame > 0 ? us_per_frame / wakeups_per_frame : 0; }
};
struct ReceiverCpu {
  ReaderCost harness;          // baseline mode: the harness's task-clock
  ReaderCost minimal;          // epoll + recv and nothing else, on the same plan
  ReaderCost minimal_hashing;  // the same reader, also computing the integrity hash
  static double overhead(double ours, double theirs) { return theirs > 0 ? ours / theirs - 1 : 0; }
};
// The receiver thread's CPU for baseline and for a minimal level-triggered epoll reader
// (same read size) without and with the integrity hash, each on its own replay of the
// same plan; warm-up frames are left out alike. The three run in turn from the reader
// numbered `first` (0 harness, 1 minimal, 2 hashing), so rounds can vary the order.
ReceiverCpu receiver_cpu_vs_minimal_reader(const Scenario& scenario, int first = 0);

struct BookkeepingCost {
  double stamp_ns_per_frame = 0;    // clock read + timestamp stored per completed frame
  double latency_ns_per_frame = 0;  // two histogram records per frame (after the run)
  double hash_ns_per_frame = 0;     // StreamHash over one frame's bytes
  uint32_t frame_bytes = 0;
};
BookkeepingCost bookkeeping_cost(uint32_t frame_bytes);

// Peak RSS (kB, GNU time's %M) of `rcvqbench run` replaying `frames` bulk frames
// over loopback in baseline mode, as a child process of its own, and whether its plan
// was "held" or "streamed".
struct RssRun {
  int64_t peak_kb = 0;
  std::string storage;
  uint64_t capture_bytes = 0;  // the capture's file size, when it replayed one
};
RssRun peak_rss_of_run(const std::string& rcvqbench, uint64_t frames);
// The same for a capture of `frames` such frames in 1448-byte segments (kafka framing,
// cut whole), written for the run and read back by it.
RssRun peak_rss_of_capture_run(const std::string& rcvqbench, uint64_t frames);

// The rcvqbench binary built beside the running executable.
std::string rcvqbench_beside_this_binary();

}  // namespace rcvq::bench
