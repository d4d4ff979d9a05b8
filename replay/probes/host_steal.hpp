#pragma once
#include <cstdint>

namespace rcvq {

// Time the hypervisor kept this VM's CPUs from running it (steal, summed over every
// CPU) in µs at /proc/stat's 1/USER_HZ resolution; -1 when the kernel does not say. A
// perf task-clock counts the time stolen while its thread was on a CPU (getrusage
// does not), so a window with much steal inflates the CPU figures.
int64_t host_steal_us();

}  // namespace rcvq
