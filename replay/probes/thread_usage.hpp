#pragma once
#include <sys/resource.h>

#include <cstdint>

namespace rcvq {

// CPU time and context switches of the calling thread (getrusage RUSAGE_THREAD).
struct ThreadUsage {
  int64_t cpu_us = 0;  // user + system
  int64_t context_switches = 0;  // voluntary + involuntary

  static ThreadUsage now() {
    rusage ru{};
    getrusage(RUSAGE_THREAD, &ru);
    auto us = [](const timeval& tv) { return int64_t(tv.tv_sec) * 1'000'000 + tv.tv_usec; };
    return {us(ru.ru_utime) + us(ru.ru_stime), ru.ru_nvcsw + ru.ru_nivcsw};
  }
  ThreadUsage operator-(const ThreadUsage& o) const {
    return {cpu_us - o.cpu_us, context_switches - o.context_switches};
  }
};

// Data segments the socket's TCP has received (tcpi_data_segs_in), or -1 if unknown.
int64_t tcp_data_segments_in(int fd);
// Stream bytes the socket's TCP has received in order (tcpi_bytes_received), whether
// or not the reader has them yet, or -1 if unknown.
int64_t tcp_bytes_received(int fd);

}  // namespace rcvq
