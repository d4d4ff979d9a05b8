#pragma once
#include <atomic>
#include <optional>
#include <cstdint>
#include <mutex>

namespace rcvq {

// SIGINT, SIGTERM, SIGHUP and SIGQUIT are blocked in every thread and taken by one
// sigwait thread, so no work is interrupted mid-syscall. Until the process owns
// something only its own code can tidy up, a signal ends it at once with exit code 130:
// reading, planning and reporting leave nothing behind, and a read that never returns
// (a FIFO) cannot hold it. From graceful() on, a signal becomes a stop request that
// every loop can see - an atomic flag for pacing loops and an eventfd for poll and
// epoll sets - so the run winds down, saves what it measured and runs every
// destructor (namespaces, BPF links, child processes); a second signal exits at once.
class StopSignal {
 public:
  static StopSignal& instance();
  // An instance of one's own (tests): request() is its only source of stop requests.
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Process-wide instance only. Call before any other thread starts so they all
  // inherit the blocked mask.
  void install();
  // One-way: from now on a signal requests a stop instead of exiting.
  void graceful();
  void request();
  bool requested() const { return flag_.load(std::memory_order_relaxed); }
  const std::atomic<bool>& flag() const { return flag_; }
  // Readable from the first request on, and stays so.
  int fd() const { return fd_; }

 private:
  void on_signal(int sig);

  std::atomic<bool> flag_{false};
  int fd_ = -1;
  // Held while the signal thread decides, so graceful() either happens before a
  // signal's decision or after the process is gone.
  std::mutex decide_;
  bool graceful_ = false;
};

// Sleeps until absolute CLOCK_MONOTONIC deadlines, returning early on a stop request:
// a pacing gap of any length ends within microseconds of Ctrl-C. One per thread.
class StoppableSleep {
 public:
  explicit StoppableSleep(const StopSignal& stop);
  ~StoppableSleep();
  StoppableSleep(const StoppableSleep&) = delete;
  StoppableSleep& operator=(const StoppableSleep&) = delete;

  // True at the deadline (at once, without a syscall, when it has passed); false when a
  // stop request ended the wait.
  bool until(int64_t deadline_ns);
  // The same, but the last kPacingSpinNs before the deadline are spun on the clock, not
  // slept: a pacer's send then leaves at its time instead of a timer wakeup's tail later.
  // Returns the clock reading that found the deadline reached, so a send can be stamped
  // without reading the clock again; nullopt when a stop request ended the wait.
  std::optional<int64_t> precisely_until(int64_t deadline_ns);

  // Timer wakeups on the 2-vCPU VMs this runs on come 20-25 us late at the median and
  // 50-110 us late at p99 even with 1 ns timer slack (measured with clock_nanosleep, 100
  // us period), so a shorter stretch turns the timer's tail into pacing error. Costs a
  // busy core whenever sends are closer together than this.
  static constexpr int64_t kPacingSpinNs = 200'000;

 private:
  const StopSignal& stop_;
  int timer_fd_ = -1;
};

}  // namespace rcvq
