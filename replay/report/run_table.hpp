#pragma once
#include <iosfwd>

#include "results/run_result.hpp"

namespace rcvq {

// The table `run` prints: per mode wakeups, socket events, syscalls, CPU and latency,
// each also as a ratio to baseline; predicted numbers, times not comparable with the
// host's and latencies from a schedule the sender did not keep are marked, with a
// legend. A mode without measurements shows only its status in its row; why is said
// once below the table.
void print_run_table(std::ostream& out, const RunResult& run);

}  // namespace rcvq
