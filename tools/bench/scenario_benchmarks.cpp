// Scenario benchmarks: a real replay through real sockets per iteration, reported as
// Google Benchmark user counters so the standard JSON carries the per-frame numbers.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>

#include "benchmarks.hpp"
#include "common/errors.hpp"
#include "common/stop.hpp"
#include "gate/bench_results.hpp"
#include "results/run_result.hpp"
#include "run/runner.hpp"
#include "scenario/load.hpp"

namespace rcvq::bench {
namespace {

// The counters each scenario benchmark reports; a metric this host cannot measure is
// left out and named in the label instead (never a 0 that would read as a result).
const std::vector<std::string>& scenario_counters() {
  static const std::vector<std::string> names{"wakeups_per_frame",
                                              "events_per_frame",
                                              "early_wakeups_per_frame",
                                              "syscalls_per_frame",
                                              "recv_calls_per_frame",
                                              "setsockopt_per_frame",
                                              "epoll_waits_per_frame",
                                              "kernel_data_ready_per_frame",
                                              "kernel_wakeup_edges_per_frame",
                                              "coalesced_notifications_per_frame",
                                              "segments_per_frame_planned",
                                              "segments_per_frame_achieved",
                                              "cpu_us_per_frame",
                                              "cpu_rusage_us_per_frame",
                                              "net_softirq_outside_receiver_us_per_frame",
                                              "receive_path_cpu_us_per_frame",
                                              "ctx_switches_per_frame",
                                              "p50_us",
                                              "p99_us",
                                              "frames_per_s",
                                              "frames"};
  return names;
}

// Label reasons are joined with "; ": keep that separator out of them.
std::string label_safe(std::string text) {
  std::replace(text.begin(), text.end(), ';', ',');
  return text;
}

void replay_benchmark(benchmark::State& state, const Scenario& scenario, const std::string& mode) {
  Scenario once = scenario;
  once.run.repetitions = 1;  // Google Benchmark repeats; each iteration is one replay
  RunSettings settings;
  settings.modes = {mode};
  settings.write_results = false;
  settings.quiet = true;
  for (auto _ : state) {
    RunOutcome outcome;
    try {
      outcome = run_scenario(once, settings);
    } catch (const std::exception& e) {
      state.SkipWithError(fmt::format("failed: {}", e.what()).c_str());
      break;
    }
    if (outcome.interrupted || StopSignal::instance().requested()) {
      state.SkipWithError("failed: interrupted");
      break;
    }
    const ModeResult& m = outcome.result.modes.front();
    if (m.status == "unsupported") {
      state.SkipWithError((kUnsupportedErrorPrefix + m.reason).c_str());
      break;
    }
    if (m.status != "ok" || m.repetitions.empty()) {
      state.SkipWithError(fmt::format("failed: {}", m.reason.empty() ? "no repetition recorded" : m.reason).c_str());
      break;
    }
    const ModeRepetition& rep = m.repetitions.front();
    if (!rep.integrity_ok) {
      state.SkipWithError(fmt::format("failed: integrity mismatch: {}", rep.integrity_detail).c_str());
      break;
    }
    state.SetIterationTime(double(rep.wall_ns) / 1e9);

    const RepetitionMetrics metrics = metrics_of_repetition(repetition_json(rep));
    std::vector<std::string> label;
    if (metrics.predicted) label.push_back(kPredictedLabel);
    for (const std::string& name : scenario_counters()) {
      if (auto v = metrics.values.find(name); v != metrics.values.end()) {
        state.counters[name] = v->second;
      } else if (auto why = metrics.unsupported.find(name); why != metrics.unsupported.end()) {
        label.push_back(fmt::format("{}{}: {}", kUnsupportedLabelPrefix, name, label_safe(why->second)));
      }
    }
    state.SetLabel(fmt::format("{}", fmt::join(label, "; ")));
  }
}

std::vector<std::string> scenario_files(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) throw InputError(fmt::format("{}: cannot read the scenario directory: {}", dir, ec.message()));
  std::vector<std::string> files;
  for (const auto& entry : it)
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

void register_scenario_benchmarks(const std::vector<std::string>& dirs, bool repetitions_from_scenario) {
  std::map<std::string, std::string> file_of_name;  // one benchmark name, one scenario
  for (const std::string& dir : dirs) {
    for (const std::string& file : scenario_files(dir)) {
      const Scenario scenario = load_scenario(file);
      if (auto [it, fresh] = file_of_name.emplace(scenario.name, file); !fresh)
        throw InputError(fmt::format("{}: scenario name '{}' is already taken by {}: benchmark names would collide",
                                     file, scenario.name, it->second));
      for (const std::string& mode : scenario.receiver.modes) {
        benchmark::internal::Benchmark* b = benchmark::RegisterBenchmark(
            fmt::format("scenario/{}/{}", scenario.name, mode).c_str(),
            [scenario, mode](benchmark::State& state) { replay_benchmark(state, scenario, mode); });
        b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
        if (repetitions_from_scenario) b->Repetitions(int(scenario.run.repetitions));
      }
    }
  }
}

}  // namespace rcvq::bench
