#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/errors.hpp"
#include "plan/plan.hpp"

#include "results/run_result.hpp"
#include "results/writer.hpp"
#include "scenario/scenario.hpp"

namespace rcvq {

class ProgressReporter;

// What the receiver host says once it has the plan.
struct RemoteSetup {
  nlohmann::json host, probe, transport;
  std::map<std::string, std::string> unsupported;  // mode -> why it cannot run there
  std::map<std::string, std::string> kernel_caveats;  // mode -> its kernel defect there (ModeDefinition)
};

// Stands in for the local harness when the receiver modes run on another host
// (replay/remote): the runner keeps the plan, the loop over modes and repetitions and
// the results; each repetition is one exchange with the receiver host.
class RemoteReceiver {
 public:
  virtual ~RemoteReceiver() = default;
  virtual RemoteSetup setup(const Scenario& scenario, const ReplayPlan& plan, const std::vector<std::string>& modes) = 0;
  virtual ModeRepetition run_once(const std::string& mode, const ReplayPlan& plan, ProgressReporter& progress) = 0;
};

// The receiver host is gone (agent killed, connection cut): the run stops, incomplete.
class ReceiverLost : public RunError {
 public:
  using RunError::RunError;
};

struct RunSettings {
  std::vector<std::string> modes;  // empty: the scenario's list
  std::string results_root = "results";
  std::string results_dir;  // write exactly here instead of a new <results_root>/<scenario>/<timestamp>
  bool write_results = true;
  bool quiet = false;  // no progress lines on stderr
  std::vector<std::string> command_line;  // argv, recorded in run.json; empty for a library caller
  RemoteReceiver* remote = nullptr;  // receivers on another host instead of here
};

struct RunOutcome {
  RunResult result;
  // Where save_results puts `result`: checked before measuring; empty when
  // write_results is off.
  std::optional<ResultsDestination> destination;
  bool interrupted = false;
  bool any_failed = false;  // a mode failed or lost integrity
  std::string receiver_lost;  // why the remote receiver host went away mid-run
};

// The whole data flow for one scenario: source -> plan -> transport -> every mode's
// receiver, repetitions interleaved across modes so drift hits them alike -> results.
// Throws InputError for bad input (an unusable results directory included, before
// anything is measured); host failures mark the mode `failed`. Writes nothing: the
// caller shows the result, then save_results(*outcome.destination, outcome.result).
RunOutcome run_scenario(const Scenario& scenario, const RunSettings& settings);

}  // namespace rcvq
