#pragma once
#include <cstdint>
#include <string>

namespace rcvq {

// On-CPU time of one thread from a perf software task-clock counter: the time the
// scheduler really ran it. getrusage(RUSAGE_THREAD) charges a thread for more (on
// these VMs ~13 us per sleep/wake cycle), which inflates modes that wake often.
class TaskClock {
 public:
  // Counts the calling thread from now on; unavailable, with the reason, when
  // perf_event_open refuses.
  static TaskClock of_calling_thread();
  TaskClock(TaskClock&& other) noexcept;
  TaskClock& operator=(TaskClock&& other) noexcept;
  TaskClock(const TaskClock&) = delete;
  TaskClock& operator=(const TaskClock&) = delete;
  ~TaskClock();

  bool available() const { return fd_ >= 0; }
  const std::string& reason() const { return reason_; }
  // Nanoseconds on CPU since the counter opened; any thread may read it.
  int64_t ns() const;

 private:
  TaskClock() = default;
  int fd_ = -1;
  std::string reason_;
};

}  // namespace rcvq
