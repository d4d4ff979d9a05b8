#pragma once
#include <cstdint>
#include <ctime>

namespace rcvq {

// One clock for sender, receiver and probes: CLOCK_MONOTONIC in nanoseconds, the
// clock BPF's bpf_ktime_get_ns() also reads.
inline int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Absolute-time sleep: pacing errors do not accumulate across segments.
inline void sleep_until_ns(int64_t deadline_ns) {
  timespec ts{deadline_ns / 1'000'000'000, deadline_ns % 1'000'000'000};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
  }
}

}  // namespace rcvq
