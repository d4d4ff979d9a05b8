#include "probes/task_clock.hpp"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/errors.hpp"

namespace rcvq {

TaskClock TaskClock::of_calling_thread() {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  TaskClock clock;
  // pid 0, cpu -1: this thread on whichever CPU it runs, kernel time included.
  clock.fd_ = int(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  if (clock.fd_ < 0)
    clock.reason_ = fmt::format("perf_event_open(PERF_COUNT_SW_TASK_CLOCK) failed: {}",
                                std::strerror(errno));
  return clock;
}

TaskClock::TaskClock(TaskClock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), reason_(std::move(other.reason_)) {}

TaskClock& TaskClock::operator=(TaskClock&& other) noexcept {
  std::swap(fd_, other.fd_);
  std::swap(reason_, other.reason_);
  return *this;
}

TaskClock::~TaskClock() {
  if (fd_ >= 0) close(fd_);
}

int64_t TaskClock::ns() const {
  if (fd_ < 0) return 0;
  uint64_t value = 0;
  if (read(fd_, &value, sizeof value) != ssize_t(sizeof value)) throw_errno("read the task-clock counter");
  return int64_t(value);
}

}  // namespace rcvq
