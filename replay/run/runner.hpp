#pragma once
#include <optional>
#include <string>
#include <vector>

#include "results/run_result.hpp"
#include "results/writer.hpp"
#include "scenario/scenario.hpp"

namespace rcvq {

struct RunSettings {
  std::vector<std::string> modes;  // empty: the scenario's list
  std::string results_root = "results";
  std::string results_dir;  // write exactly here instead of a new <results_root>/<scenario>/<timestamp>
  bool write_results = true;
  bool quiet = false;  // no progress lines on stderr
  std::vector<std::string> command_line;  // argv, recorded in run.json; empty for a library caller
};

struct RunOutcome {
  RunResult result;
  // Where save_results puts `result`: checked before measuring; empty when
  // write_results is off.
  std::optional<ResultsDestination> destination;
  bool interrupted = false;
  bool any_failed = false;  // a mode failed or lost integrity
};

// The whole data flow for one scenario: source -> plan -> transport -> every mode's
// receiver, repetitions interleaved across modes so drift hits them alike -> results.
// Throws InputError for bad input (an unusable results directory included, before
// anything is measured); host failures mark the mode `failed`. Writes nothing: the
// caller shows the result, then save_results(*outcome.destination, outcome.result).
RunOutcome run_scenario(const Scenario& scenario, const RunSettings& settings);

}  // namespace rcvq
