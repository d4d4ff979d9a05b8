#include "common/stop.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <initializer_list>
#include <thread>

#include "common/clock.hpp"
#include "common/errors.hpp"

namespace rcvq {
namespace {

// Waits this short cannot delay a stop noticeably: they take the one-syscall
// clock_nanosleep instead of arming a timer and polling (two).
constexpr int64_t kUnstoppableSleepNs = 1'000'000;

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  return set;
}

}  // namespace

StopSignal& StopSignal::instance() {
  static StopSignal signal;
  return signal;
}

StopSignal::StopSignal() {
  fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd_ < 0) throw_errno("eventfd");
}

StopSignal::~StopSignal() { close(fd_); }

void StopSignal::request() {
  flag_.store(true);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof one);
}

void StopSignal::graceful() {
  std::lock_guard lock(decide_);
  graceful_ = true;
}

void StopSignal::on_signal(int sig) {
  std::lock_guard lock(decide_);
  const char* name = sigabbrev_np(sig);
  if (!graceful_) {
    std::fprintf(stderr, "rcvqbench: interrupted (SIG%s)\n", name);
    _exit(kExitInterrupted);
  }
  if (requested()) {
    // The user insists. Namespaces and BPF links die with the process anyway.
    std::fprintf(stderr, "rcvqbench: second interrupt (SIG%s), exiting now\n", name);
    _exit(kExitInterrupted);
  }
  std::fprintf(stderr, "rcvqbench: interrupted (SIG%s), stopping and cleaning up\n", name);
  request();
}

void StopSignal::install() {
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([this, set] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) == 0) on_signal(sig);
    }
  }).detach();
}

StoppableSleep::StoppableSleep(const StopSignal& stop) : stop_(stop) {
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (timer_fd_ < 0) throw_errno("timerfd_create");
}

StoppableSleep::~StoppableSleep() { close(timer_fd_); }

bool StoppableSleep::until(int64_t deadline_ns) {
  if (stop_.requested()) return false;
  const int64_t remaining = deadline_ns - monotonic_ns();
  if (remaining <= 0) return true;
  if (remaining <= kUnstoppableSleepNs) {
    sleep_until_ns(deadline_ns);
    return !stop_.requested();
  }
  // Re-arming also clears an earlier expiry, so the timer needs no read. A timerfd
  // fires without the timer slack poll's own timeout would add.
  const itimerspec at{{0, 0}, to_timespec(deadline_ns)};
  if (timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &at, nullptr) != 0) throw_errno("timerfd_settime");
  pollfd fds[2] = {{timer_fd_, POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
  while (poll(fds, 2, -1) < 0)
    if (errno != EINTR) throw_errno("poll on the pacing timer");
  return !(fds[1].revents & POLLIN);
}

std::optional<int64_t> StoppableSleep::precisely_until(int64_t deadline_ns) {
  int64_t now = monotonic_ns();
  if (deadline_ns - now > kPacingSpinNs) {
    if (!until(deadline_ns - kPacingSpinNs)) return std::nullopt;
    now = monotonic_ns();
  }
  while (now < deadline_ns) now = monotonic_ns();
  if (stop_.requested()) return std::nullopt;
  return now;
}

}  // namespace rcvq
