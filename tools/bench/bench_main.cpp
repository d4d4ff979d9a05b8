// rcvqbench-bench: Google Benchmark front end. Takes its own options (--scenarios DIR,
// --no-ci-scenarios) off the command line and hands the rest to Google Benchmark, so
// every --benchmark_* flag and the standard JSON output work unchanged.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstring>
#include <string>
#include <vector>

#include "benchmarks.hpp"
#include "common/errors.hpp"
#include "common/stop.hpp"
#include "probes/host_probe.hpp"

namespace {

struct BenchOptions {
  std::vector<std::string> scenario_dirs{RCVQ_CI_SCENARIOS_DIR};
  bool repetitions_given = false;  // --benchmark_repetitions overrides the scenarios'
};

constexpr const char* kUsage =
    "rcvqbench-bench [--scenarios DIR]... [--no-ci-scenarios] [Google Benchmark flags]\n"
    "  --scenarios DIR     also register every *.yaml scenario in DIR (repeatable)\n"
    "  --no-ci-scenarios   do not register the regression set (" RCVQ_CI_SCENARIOS_DIR ")\n"
    "Scenario benchmarks are scenario/<name>/<mode> (one replay per iteration, the scenario's\n"
    "run.repetitions as repetitions); microbenchmarks are micro/...; instrument/... are the\n"
    "replayer's throughput against iperf3 and a bulk run's peak RSS. Write JSON for\n"
    "`rcvqbench gate` with --benchmark_out=FILE --benchmark_out_format=json.\n";

// Removes our options from argv; returns false (after printing why) on bad usage.
bool take_own_options(int& argc, char** argv, BenchOptions& options) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--scenarios" || arg.rfind("--scenarios=", 0) == 0) {
      std::string dir;
      if (arg == "--scenarios") {
        if (i + 1 >= argc) {
          fmt::print(stderr, "rcvqbench-bench: --scenarios needs a directory\n{}", kUsage);
          return false;
        }
        dir = argv[++i];
      } else {
        dir = arg.substr(std::strlen("--scenarios="));
      }
      options.scenario_dirs.push_back(dir);
      continue;
    }
    if (arg == "--no-ci-scenarios") {
      std::erase(options.scenario_dirs, std::string(RCVQ_CI_SCENARIOS_DIR));
      continue;
    }
    if (arg == "--help" || arg == "-h") fmt::print("{}\nGoogle Benchmark flags:\n", kUsage);
    if (arg.rfind("--benchmark_repetitions", 0) == 0) options.repetitions_given = true;
    argv[kept++] = argv[i];
  }
  argc = kept;
  return true;
}

// The host the numbers were taken on, in the JSON "context" next to Google
// Benchmark's own fields: the gate prints it beside the baseline's.
void describe_host_in_context() {
  const nlohmann::json host = rcvq::describe_host();
  for (const char* key : {"kernel", "kernel_version", "machine", "cpu_model", "libbpf"})
    if (host.contains(key) && host[key].is_string()) benchmark::AddCustomContext(key, host[key].get<std::string>());
  benchmark::AddCustomContext("rcvqbench_probe", rcvq::probe_host().to_json().dump());
}

}  // namespace

int main(int argc, char** argv) {
  rcvq::StopSignal::instance().install();
  BenchOptions options;
  if (!take_own_options(argc, argv, options)) return rcvq::kExitBadInput;
  try {
    rcvq::bench::register_micro_benchmarks();
    rcvq::bench::register_instrument_benchmarks();
    rcvq::bench::register_scenario_benchmarks(options.scenario_dirs, !options.repetitions_given);
  } catch (const rcvq::InputError& e) {
    fmt::print(stderr, "rcvqbench-bench: {}\n", e.what());
    return rcvq::kExitBadInput;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return rcvq::kExitBadInput;
  describe_host_in_context();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return rcvq::StopSignal::instance().requested() ? 130 : rcvq::kExitOk;
}
