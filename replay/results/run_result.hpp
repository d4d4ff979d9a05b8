#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "receiver/connection.hpp"
#include "results/histogram.hpp"
#include "results/timing.hpp"

namespace rcvq {

// A measurement that a host may be unable to take: a value, or the reason there is none.
struct Measured {
  std::optional<double> value;
  std::string reason;  // why value is missing

  static Measured of(double v) { return {v, {}}; }
  static Measured missing(std::string why) { return {std::nullopt, std::move(why)}; }
};

// What connection 0 saw around the first frames after warm-up, for the report's
// timeline. Times are ns since the replay start (t0).
struct FrameTimeline {
  struct Frame {
    uint64_t index = 0;
    int64_t due_ns = 0;   // scheduled send of its last byte
    int64_t done_ns = 0;  // recv() that completed it returned
  };
  struct Segment {
    uint64_t frame = 0;  // the first shown frame it carries bytes of
    uint32_t bytes = 0;
    int64_t planned_ns = 0;
    int64_t sent_ns = 0;  // handed to send(); 0 when the sender did not record it
  };
  std::vector<Frame> frames;
  std::vector<Segment> segments;
  std::vector<int64_t> wakeup_ns;  // epoll_wait returns with events
  int64_t origin_ns = 0;  // t0 on CLOCK_MONOTONIC, so a mode can place its own events; not in run.json

  bool empty() const { return frames.empty(); }
};

// One repetition of one mode, over the measured (post-warm-up) frames.
struct ModeRepetition {
  uint64_t frames = 0;
  uint64_t bytes = 0;
  ReceiverCounters counters;
  Measured kernel_data_ready;    // sk_data_ready calls (notifications) on the receiver's sockets
  Measured kernel_wakeup_edges;  // those after the reader copied since the previous call
  Measured segments_achieved;    // data segments the receiver's TCP took in
  double segments_planned = 0;
  Measured cpu_us;               // receiver thread on CPU: perf task-clock
  Measured cpu_rusage_us;        // receiver thread user + system: getrusage(RUSAGE_THREAD)
  Measured net_softirq_outside_receiver_us;  // NET_RX + NET_TX softirq, any CPU, not on the receiver thread
  Measured ctx_switches;         // receiver thread voluntary + involuntary
  Histogram latency{};         // ns, from the scheduled send of the frame's last byte
  Histogram latency_from_send{};  // ns, from when that byte was actually handed to send()
  Histogram send_lateness{};  // ns each measured segment was handed over after its planned time
  // Why latency and latency_from_send are empty although frames arrived (sender and
  // receiver on two hosts whose clocks are not known well enough); "" otherwise.
  std::string latency_unavailable;
  int64_t frame_period_ns = 0;  // planned mean time between consecutive measured frames
  int64_t wall_ns = 0;
  bool integrity_ok = false;
  std::string integrity_detail;
  bool predicted = false;       // numbers come from a model, not from this kernel
  nlohmann::json extra = nlohmann::json::object();  // mode- or transport-specific
  FrameTimeline timeline;
};

struct ModeResult {
  std::string mode;
  std::string status = "ok";  // ok | unsupported | failed | not run (interrupted before its first repetition)
  std::string reason;
  std::string kernel_caveat;  // ModeDefinition::kernel_caveat's finding, "" when none
  std::vector<ModeRepetition> repetitions;
};

struct RunResult {
  nlohmann::json scenario;   // echo
  nlohmann::json host;
  nlohmann::json probe;
  nlohmann::json plan;       // summary of the replay plan
  nlohmann::json transport;
  nlohmann::json pinning;    // receiver_cpu, sender_cpu: as configured, null when unpinned
  std::vector<ModeResult> modes;
  std::string started_utc;
  bool complete = false;     // set only when every mode ran to its end
  std::vector<std::string> warnings;
  TimingComparability timing;  // of this run's times with the host's
  nlohmann::json provenance = nlohmann::json::object();  // what produced the run: tool, command, times, inputs
};

// The sender kept its schedule when its p99 lateness stayed within this fraction of
// the planned frame period. Beyond it the planned load was not offered, and latencies,
// taken from the planned send, carry the sender's lag.
inline constexpr double kScheduleLatenessFraction = 0.25;

// The run.json document (design.md's contract, extended, never renamed). Run level and
// every mode's metrics carry `timing_comparable` and, when false, `timing_reason` and
// the `timing_metrics` it applies to.
nlohmann::json to_json(const RunResult& run);
nlohmann::json repetition_json(const ModeRepetition& rep);
// Pools repetitions: sums for counts, merged histograms for latency.
nlohmann::json aggregate_metrics(const ModeResult& mode);

}  // namespace rcvq
