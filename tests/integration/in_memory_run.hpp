#pragma once
#include <string>
#include <vector>

#include "run/runner.hpp"

namespace rcvq {

// A whole run as the tests want it: nothing written to disk, no progress output.
inline RunOutcome run_in_memory(const Scenario& scenario, std::vector<std::string> modes = {}) {
  RunSettings settings;
  settings.write_results = false;
  settings.quiet = true;
  settings.modes = std::move(modes);
  return run_scenario(scenario, settings);
}

}  // namespace rcvq
