#include <gtest/gtest.h>

#include <cstring>
#include <ctime>
#include <thread>

#include "perf_event_denied.hpp"
#include "probes/task_clock.hpp"

namespace rcvq {
namespace {

int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The counter belongs to one thread: a thread that waits while another burns 50 ms of
// CPU gains only the little it ran itself, the burning one far more.
TEST(TaskClock, CountsOnlyTheThreadThatOpenedIt) {
  TaskClock waiting = TaskClock::of_calling_thread();
  ASSERT_TRUE(waiting.available()) << waiting.reason();
  const int64_t waiting_before = waiting.ns();
  int64_t burnt_ns = 0;
  std::thread burner([&] {
    const TaskClock own = TaskClock::of_calling_thread();
    const int64_t start = thread_cpu_ns();
    while (thread_cpu_ns() - start < 50'000'000) {
    }
    burnt_ns = own.ns();
  });
  burner.join();
  const int64_t waited_ns = waiting.ns() - waiting_before;
  EXPECT_GE(waited_ns, 0);
  EXPECT_LT(waited_ns, burnt_ns);
}

TEST(TaskClock, SaysWhyWhenPerfEventOpenIsRefused) {
  std::thread refused([] {
    deny_perf_event_open_on_this_thread();
    const TaskClock clock = TaskClock::of_calling_thread();
    EXPECT_FALSE(clock.available());
    EXPECT_NE(clock.reason().find("perf_event_open"), std::string::npos) << clock.reason();
    EXPECT_NE(clock.reason().find(std::strerror(EACCES)), std::string::npos) << clock.reason();
    EXPECT_EQ(clock.ns(), 0);
  });
  refused.join();
}

}  // namespace
}  // namespace rcvq
