#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "plan/plan.hpp"
#include "probes/data_ready.hpp"
#include "probes/net_softirq.hpp"
#include "probes/task_clock.hpp"
#include "receiver/connection.hpp"
#include "receiver/mode.hpp"
#include "results/run_result.hpp"
#include "transport/network.hpp"

namespace rcvq {

// The one receiver loop every mode shares: a listener in the receiver's namespace,
// one epoll set over all connections, level- or edge-triggered, a frame assembler per
// connection. The mode strategy only configures sockets and reacts after reads.
class ReceiverHarness {
 public:
  ReceiverHarness(const Scenario& scenario, const Network& network, ReceiverMode& mode,
                  DataReadyProbe& data_ready);
  // Another receiver thread's loop over its own connections, accepting from `listener`'s
  // socket (which stays the listener's to close).
  ReceiverHarness(const Scenario& scenario, const ReceiverHarness& listener, ReceiverMode& mode,
                  DataReadyProbe& data_ready);
  ~ReceiverHarness();
  ReceiverHarness(const ReceiverHarness&) = delete;
  ReceiverHarness& operator=(const ReceiverHarness&) = delete;

  // Accepts the next `count` connections the replayer opened, numbering them from
  // `first_index`, and hands each to the mode before any data flows.
  void accept_connections(uint32_t count, uint32_t first_index = 0);
  // Frames received per connection (all connections' frames over their number),
  // stored as the loop advances (for progress).
  void publish_frames_to(std::atomic<uint64_t>* frames_received) { frames_progress_ = frames_received; }
  // The network softirq time the receiver thread's own CPU time leaves out.
  void measure_softirq_with(NetSoftirqProbe* softirq) { softirq_ = softirq; }
  const std::vector<Connection>& connections() const { return connections_; }
  // A streamed plan keeps no frame times: each connection records its frames' latencies
  // as they complete, reading their send times from `ring_of(connection index)`. Call
  // before receive().
  void record_latency_as_frames_complete(int64_t t0_ns, uint64_t warmup_frames,
                                         const std::function<FrameSendRing*(uint32_t)>& ring_of);

  // Receives until every connection holds every planned frame (or EOF, a stop request,
  // or the deadline, which each completed frame pushes to run.timeout_s after it: only
  // a stall times out). Run on the thread whose CPU is to be measured: its task-clock
  // counter opens here.
  // `stop_fd` is an eventfd that becomes readable on a stop request.
  void receive(const ReplayPlan& plan, int64_t deadline_ns, int stop_fd);

  // Metrics over the post-warm-up frames; `t0_ns` and `sent_ns` come from the replayer
  // (of a streamed plan: the times of its timeline excerpt's segments only).
  // With several sender threads `sent_ns` is the last thread's handover of each segment
  // (for send lateness and the timeline) and `sent_by(connection index)` the record of
  // the connection's own sender thread, which its frames' latency from send counts from.
  ModeRepetition measurements(
      const ReplayPlan& plan, int64_t t0_ns, const std::vector<int64_t>& sent_ns,
      const std::function<const std::vector<int64_t>&(uint32_t)>& sent_by = nullptr) const;

  // After receive() gave up (timeout, error): resets every connection, so a sender
  // blocked on a full send buffer fails at once instead of waiting for reads that will
  // never come.
  void abandon_connections();

  // After a timeout, before abandon_connections(): which connections lack frames, how
  // far their reader got and how much of the stream their TCP had received.
  std::string stall_report() const;

  bool stopped() const { return stopped_; }
  bool timed_out() const { return timed_out_; }

 private:
  struct Snapshot {
    ReceiverCounters counters;
    int64_t task_clock_ns = 0, rusage_cpu_us = 0, context_switches = 0;
    DataReadyCounts data_ready;
    int64_t net_softirq_outside_receiver_ns = 0;
    int64_t host_steal_us = -1;
    int64_t data_segments = 0;  // -1 when TCP_INFO lacks the counter
    int64_t time_ns = 0;
  };
  Snapshot snapshot() const;
  FrameTimeline timeline(const ReplayPlan& plan, int64_t t0_ns, const std::vector<int64_t>& sent_ns) const;
  // Where the connections stand, kept up to date after each connection's reads.
  struct FrameTally {
    uint64_t plan_frames = 0, warmup_frames = 0;
    uint64_t frames = 0;  // completed, over every connection
    size_t connections_warmed_up = 0, connections_complete = 0;
    // A connection's frame count went from `before` to `after`.
    void add(uint64_t before, uint64_t after);
  };
  void close_sockets();

  const Scenario& scenario_;
  ReceiverMode& mode_;
  DataReadyProbe& data_ready_;
  NetSoftirqProbe* softirq_ = nullptr;
  std::optional<TaskClock> task_clock_;
  int listen_fd_ = -1;
  bool owns_listener_ = true;
  int epoll_fd_ = -1;
  std::vector<Connection> connections_;
  ReceiverCounters counters_;
  FrameTally tally_;
  Snapshot measure_start_, measure_end_;
  std::vector<int64_t> wakeup_ns_;  // first wakeups after warm-up, for the timeline
  Histogram streamed_latency_, streamed_latency_from_send_;  // a streamed plan's
  std::atomic<uint64_t>* frames_progress_ = nullptr;
  bool stopped_ = false, timed_out_ = false;
};

}  // namespace rcvq
