#pragma once
#include <atomic>

namespace rcvq {

// Ctrl-C and SIGTERM become a stop request that every loop can see: an atomic flag
// for pacing loops and an eventfd for epoll sets. Signals are blocked in every thread
// and taken by one sigwait thread, so no work is interrupted mid-syscall and every
// destructor (namespaces, cgroups, BPF links) still runs.
class StopSignal {
 public:
  static StopSignal& instance();
  // Call before any other thread starts so they all inherit the blocked mask.
  void install();
  void request();
  bool requested() const { return flag_.load(std::memory_order_relaxed); }
  const std::atomic<bool>& flag() const { return flag_; }
  int fd() const { return fd_; }

 private:
  StopSignal();
  std::atomic<bool> flag_{false};
  int fd_ = -1;
};

}  // namespace rcvq
