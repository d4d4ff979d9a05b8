#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "results/timing.hpp"

namespace rcvq {

// One row of an .hgrm percentile distribution (HdrHistogram's layout).
struct PercentilePoint {
  double value = 0;        // in the file's unit (µs for rcvqbench)
  double percentile = 0;   // 0..1
  uint64_t total_count = 0;
  double inverse = 1;      // 1/(1-percentile); infinite on the 100% row, which has no such column
};

// A results directory read back: run.json plus each mode's latency distribution.
struct LoadedRun {
  std::string dir;        // the results directory
  std::string json_path;  // its run.json
  nlohmann::json run;
  std::map<std::string, std::vector<PercentilePoint>> latency_us;  // by mode, from <mode>.hgrm

  std::vector<std::string> mode_names() const;  // in run.json order
  const nlohmann::json& mode(const std::string& name) const;
  // The mode's pooled metrics, or null when it produced none.
  const nlohmann::json& metrics(const std::string& name) const;
  bool predicted(const std::string& name) const;
  // Where this run's clock ran ("host", "tcg", ...) and whether its times compare with
  // the host's, from run.json's host.vm.
  std::string timing_domain() const;
  TimingComparability timing() const;
};

// The result contract's types (design.md, README's run.json): every mode's status,
// reason and repetitions, and in its metrics and each repetition the documented
// metrics: frames and bytes are counts, per-frame figures numbers or null, latency
// objects of numbers, integrity "ok" or "mismatch". Keys it does not know are left
// alone (the contract is extended, never renamed). Throws InputError naming `file`
// and the key.
void check_run_contract(const nlohmann::json& run, const std::string& file);

// `path` is a results directory or its run.json. Throws InputError naming the file
// when it is missing, not JSON, not an rcvqbench run or breaks the contract's types.
LoadedRun load_run(const std::string& path);

// Parses HdrHistogram percentile-distribution text. `source` names it in errors.
std::vector<PercentilePoint> parse_hgrm(const std::string& text, const std::string& source);

// A number inside `j` by JSON pointer ("/latency_ns/p50"), or nullopt.
std::optional<double> number_at(const nlohmann::json& j, const std::string& pointer);

}  // namespace rcvq
