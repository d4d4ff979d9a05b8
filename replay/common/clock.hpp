#pragma once
#include <cerrno>
#include <cstdint>
#include <ctime>

#include "common/errors.hpp"

namespace rcvq {

// One clock for sender, receiver and probes: CLOCK_MONOTONIC in nanoseconds, the
// clock BPF's bpf_ktime_get_ns() also reads.
inline int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline timespec to_timespec(int64_t ns) { return {ns / 1'000'000'000, ns % 1'000'000'000}; }

// Absolute-time sleep: pacing errors do not accumulate across segments. Only a signal
// is retried; any other error (EINVAL for a negative time) would fail again forever.
inline void sleep_until_ns(int64_t deadline_ns) {
  const timespec ts = to_timespec(deadline_ns);
  for (int error; (error = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr)) != 0;) {
    if (error == EINTR) continue;
    errno = error;
    throw_errno("clock_nanosleep");
  }
}

}  // namespace rcvq
