#pragma once
#include <string>
#include <vector>

#include "run/runner.hpp"
#include "scenario/scenario.hpp"

namespace rcvq {

struct KernelMatrixSettings {
  std::vector<std::string> kernels;  // --kernel arguments, in order: `host` or bzImage paths
  double vm_timeout_s = 0;           // per VM; 0: vm_timeout_for the scenario
  bool json_out = false;             // print index.json at the end instead of the tables
};

// Upper bound for one VM's whole run (boot, every repetition of every mode) under TCG:
// the guard against a hung guest, not an estimate.
double vm_timeout_for(const Scenario& scenario, size_t modes, double plan_duration_s);

// `rcvqbench run SCENARIO --kernel K...`: the same scenario, modes and options under each
// kernel in turn (`host` in-process, a bzImage through tools/vmrun running this binary),
// into <results_root>/<scenario>/<timestamp>/<label>/ with index.json beside them; each
// kernel's table as it finishes, then all of them side by side. A kernel that fails is
// recorded and the others still run. Returns the exit code: 0, 1 when any kernel failed,
// 130 when interrupted. Throws InputError (exit 2) before anything runs for a bad
// scenario, mode, kernel, or a missing VM runner.
int run_kernel_matrix(const std::string& scenario_path, const RunSettings& run_settings,
                      const KernelMatrixSettings& matrix_settings);

}  // namespace rcvq
