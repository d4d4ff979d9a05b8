#pragma once
#include <cstdint>
#include <optional>
#include <vector>

namespace rcvq {

// SCHED_FIFO for the calling thread (0 = leave it alone): the other load on the host
// then cannot delay a wakeup long enough for two arrivals to merge into one. Throws RunError.
void apply_realtime_priority(uint32_t priority, const char* thread);

// The CPUs this process may run on.
std::vector<int> allowed_cpus();

// Pins the calling thread to `cpu` when given (like iperf3 -A); returns the CPUs it may
// use afterwards. Throws RunError.
std::vector<int> pin_calling_thread(std::optional<uint32_t> cpu, const char* thread);

}  // namespace rcvq
