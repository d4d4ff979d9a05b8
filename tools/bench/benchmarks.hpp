#pragma once
#include <string>
#include <vector>

namespace rcvq::bench {

// Every scenario file (*.yaml, sorted) in `dirs` becomes one benchmark per receiver
// mode, named scenario/<scenario>/<mode>. One iteration is one replay of the scenario
// through that mode; `repetitions_from_scenario` gives each benchmark the scenario's
// run.repetitions (unless --benchmark_repetitions was given). Throws InputError for a
// bad scenario file.
void register_scenario_benchmarks(const std::vector<std::string>& dirs, bool repetitions_from_scenario);

// micro/...: framing codecs and FrameScanner, capture reassembly, the planner,
// histogram recording and the receiver's frame assembler.
void register_micro_benchmarks();

// instrument/...: bulk replay throughput as a ratio to iperf3 (loopback, veth) and the
// peak RSS of a bulk run, as counters; they need root and iperf3 like the scenarios.
void register_instrument_benchmarks();

}  // namespace rcvq::bench
