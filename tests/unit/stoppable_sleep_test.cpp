// Pacing sleeps: a stop request ends any of them at once, and a send that is due or
// late makes no sleep syscall at all.
#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <thread>

#include "common/clock.hpp"
#include "common/errors.hpp"
#include "common/stop.hpp"
#include "perf_event_denied.hpp"

namespace rcvq {
namespace {

constexpr int64_t kMs = 1'000'000;

TEST(StoppableSleep, ReturnsAtTheDeadlineNeverBefore) {
  const StopSignal stop;
  StoppableSleep sleep(stop);
  for (int64_t wait : {int64_t(100'000), 5 * kMs}) {  // the clock_nanosleep and the timer path
    const int64_t deadline = monotonic_ns() + wait;
    EXPECT_TRUE(sleep.until(deadline));
    EXPECT_GE(monotonic_ns(), deadline);
  }
}

TEST(StoppableSleep, AStopRequestEndsALongSleepBeforeItsDeadline) {
  StopSignal stop;
  StoppableSleep sleep(stop);
  const int64_t deadline = monotonic_ns() + 20'000 * kMs;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop.request();
  });
  EXPECT_FALSE(sleep.until(deadline));
  EXPECT_LT(monotonic_ns(), deadline);
  stopper.join();
  // Once stopped, every later sleep returns at once.
  EXPECT_FALSE(sleep.until(monotonic_ns() + 20'000 * kMs));
}

TEST(StoppableSleep, PreciselySpinsTheLastStretchSleepingNone) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the seccomp filter checks x86-64 syscall numbers";
#endif
  const StopSignal stop;
  StoppableSleep sleep(stop);
  bool returned_at_deadlines = true;
  std::thread sender([&] {
    // Within the spun stretch no sleep syscall may be made: it would fail here.
    deny_syscalls_on_this_thread({__NR_clock_nanosleep, __NR_nanosleep, __NR_poll, __NR_ppoll}, EPERM);
    for (int64_t wait : {int64_t(1'000), int64_t(50'000), StoppableSleep::kPacingSpinNs}) {
      const int64_t deadline = monotonic_ns() + wait;
      // The reading it returns is the one that found the deadline reached: a send's stamp.
      const std::optional<int64_t> at = sleep.precisely_until(deadline);
      returned_at_deadlines = at && *at >= deadline && *at <= monotonic_ns() && returned_at_deadlines;
    }
  });
  sender.join();
  EXPECT_TRUE(returned_at_deadlines);
  // Longer waits sleep first, and a stop still ends them.
  const int64_t deadline = monotonic_ns() + 5 * kMs;
  const std::optional<int64_t> at = sleep.precisely_until(deadline);
  ASSERT_TRUE(at);
  EXPECT_GE(*at, deadline);
  StopSignal stopping;
  StoppableSleep stoppable(stopping);
  stopping.request();
  EXPECT_FALSE(stoppable.precisely_until(monotonic_ns() + 20'000 * kMs).has_value());
}

TEST(StoppableSleep, ADueOrLateDeadlineMakesNoSleepSyscall) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the seccomp filter checks x86-64 syscall numbers";
#endif
  const StopSignal stop;
  StoppableSleep sleep(stop);
  bool late_returned = false, future_failed = false;
  std::thread sender([&] {
    // Every way to sleep fails with EPERM on this thread only.
    deny_syscalls_on_this_thread({__NR_clock_nanosleep, __NR_nanosleep, __NR_poll, __NR_ppoll}, EPERM);
    const int64_t now = monotonic_ns();
    late_returned = sleep.until(now - kMs) && sleep.until(now);
    // The filter does catch a real sleep: it fails instead of being retried forever.
    try {
      sleep.until(monotonic_ns() + 100'000);
    } catch (const RunError&) {
      future_failed = true;
    }
  });
  sender.join();
  EXPECT_TRUE(late_returned);
  EXPECT_TRUE(future_failed);
}

}  // namespace
}  // namespace rcvq
