#include "kernels/matrix_run.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "common/errors.hpp"
#include "common/stop.hpp"
#include "kernels/index.hpp"
#include "kernels/kernel_spec.hpp"
#include "kernels/side_by_side.hpp"
#include "kernels/vm_runner.hpp"
#include "plan/plan.hpp"
#include "receiver/mode.hpp"
#include "report/run_table.hpp"
#include "results/writer.hpp"
#include "scenario/load.hpp"
#include "source/source_stream.hpp"

namespace rcvq {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Measured under TCG on these machines: CPU and latency ~10x the host's; a guest boots
// in 3-10 s, a loaded host can stretch that several times.
constexpr double kTcgSlowdown = 10;
constexpr double kVmBootAllowanceS = 120;
constexpr double kRepetitionSetupS = 20;  // namespaces, sockets, BPF loads per repetition

// vmrun's own exit codes (tools/vmrun's interface).
constexpr int kVmrunTimedOut = 124;
constexpr int kVmrunVmFailed = 125;

constexpr const char* kRunJson = "run.json";
constexpr const char* kConsoleLog = "console.log";

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Why a finished run did not go well, from its run.json: failed modes and lost integrity.
std::string failed_modes_reason(const LoadedRun& run) {
  std::vector<std::string> problems;
  for (const std::string& name : run.mode_names()) {
    const json& m = run.mode(name);
    if (m.value("status", "ok") == "failed") problems.push_back(fmt::format("{} failed: {}", name, m.value("reason", "")));
    else if (run.metrics(name).is_object() && run.metrics(name).value("integrity", "ok") != "ok")
      problems.push_back(fmt::format("{}: received bytes differ from the sent stream", name));
  }
  if (!run.run.value("complete", false)) problems.push_back("run.json is incomplete");
  return fmt::format("{}", fmt::join(problems, "; "));
}

// What the kernel's own run.json says about where it ran.
void take_run_facts(KernelRunEntry& k, const LoadedRun& run, bool in_vm) {
  const json& host = run.run.value("host", json());
  if (host.contains("kernel") && host["kernel"].is_string()) k.kernel_release = host["kernel"].get<std::string>();
  if (in_vm && timing_domain(host) == "host") {
    // A guest that does not say which accelerator ran it cannot vouch for its times.
    k.accel = "unknown";
    k.timing_comparable = false;
    k.timing_reason = "the guest did not report its accelerator (RCVQBENCH_VM_ACCEL unset)";
    return;
  }
  k.accel = timing_domain(host);
  const TimingComparability timing = run.timing();
  k.timing_comparable = timing.comparable;
  k.timing_reason = timing.reason;
}

std::optional<LoadedRun> load_if_written(const fs::path& run_json) {
  std::error_code ec;
  if (!fs::exists(run_json, ec)) return std::nullopt;
  return load_run(run_json.string());
}

void run_on_host(const Scenario& sc, RunSettings settings, const fs::path& run_dir, KernelRunEntry& k,
                 bool print_table) {
  settings.results_dir = (run_dir / k.label).string();
  try {
    RunOutcome outcome = run_scenario(sc, settings);
    if (print_table) print_run_table(std::cout, outcome.result);
    k.exit_code = outcome.interrupted ? kExitInterrupted : outcome.any_failed ? kExitRunFailed : kExitOk;
    const SavedResults saved = save_results(*outcome.destination, outcome.result);
    if (!saved.error.empty())
      throw RunError(saved.dir.empty() ? saved.error
                                       : fmt::format("{}; the results are kept in {} instead", saved.error, saved.dir));
  } catch (const RunError& e) {
    k.exit_code = kExitRunFailed;
    k.status = "failed";
    k.reason = e.what();
    return;
  }
  k.run_json = (fs::path(k.label) / kRunJson).string();
  const LoadedRun run = load_run((run_dir / k.run_json).string());
  take_run_facts(k, run, false);
  k.status = *k.exit_code == kExitOk ? "ok" : *k.exit_code == kExitInterrupted ? "interrupted" : "failed";
  if (k.status == "interrupted") k.reason = "interrupted";
  else if (k.status == "failed") k.reason = failed_modes_reason(run);
}

// What a tools/vmrun guest mounts fresh (tmpfs), hiding the host's files beneath.
constexpr const char* kGuestFreshMounts[] = {"/tmp", "/var/tmp", "/run", "/dev/shm"};

// The guest sees the host's root at the same paths except under its fresh mounts: the
// directories of the files it reads from there must be shared with it. A file directly
// in such a mount would mean sharing all of it, so that is refused.
std::vector<std::string> shares_for_guest_inputs(const std::vector<std::string>& files) {
  std::vector<std::string> shares;
  for (const std::string& file : files) {
    const fs::path dir = fs::weakly_canonical(fs::absolute(file)).parent_path();
    for (const fs::path mount : kGuestFreshMounts) {
      const auto [mount_end, _] = std::mismatch(mount.begin(), mount.end(), dir.begin(), dir.end());
      if (mount_end != mount.end()) continue;
      if (dir == mount)
        throw InputError(fmt::format("{}: a VM guest mounts {} afresh and cannot read files directly in it; move it "
                                     "into a subdirectory",
                                     file, mount.string()));
      if (std::find(shares.begin(), shares.end(), dir.string()) == shares.end()) shares.push_back(dir.string());
    }
  }
  return shares;
}

struct VmContext {
  std::string vmrun;
  std::string self;           // this binary, run again inside the guest
  std::string scenario_path;  // absolute: the guest sees the host root at the same paths
  std::vector<std::string> shares;  // besides the run directory: where the guest's inputs are
  std::vector<std::string> modes;
  bool quiet = false;
  double timeout_s = 0;
};

// The line of the child's stderr that says why it failed: the guest rcvqbench's own
// error when there is one, else the runner's last word that is not bookkeeping (its
// run time, where the console went, the console's lines themselves).
std::string stated_reason(const std::vector<std::string>& stderr_tail) {
  for (auto line = stderr_tail.rbegin(); line != stderr_tail.rend(); ++line)
    if (line->starts_with("rcvqbench: ")) return *line;
  for (auto line = stderr_tail.rbegin(); line != stderr_tail.rend(); ++line) {
    const bool bookkeeping = line->starts_with(" ") || line->starts_with("vmrun: guest ran ") ||
                             line->starts_with("vmrun: kernel console") || line->starts_with("vmrun: last lines");
    if (!bookkeeping) return *line;
  }
  return "";
}

std::string vm_failure_reason(const ChildOutcome& c, const VmContext& vm, const std::string& console_log) {
  const std::string stated = stated_reason(c.stderr_tail);
  const std::string said = stated.empty() ? "" : ": " + stated;
  switch (c.exit_code) {
    case kVmrunTimedOut:
      return fmt::format("the VM did not finish within {:.0f} s (vmrun exit 124; raise it with --vm-timeout); console: "
                         "{}",
                         vm.timeout_s, console_log);
    case kVmrunVmFailed:
      return fmt::format("the VM failed to boot or run (vmrun exit 125){}; console: {}", said, console_log);
    case kExitBadInput: return fmt::format("rcvqbench in the guest rejected its input (exit 2){}", said);
    default: return fmt::format("exited with code {}{}; console: {}", c.exit_code, said, console_log);
  }
}

void run_in_vm(const VmContext& vm, const fs::path& run_dir, KernelRunEntry& k, bool echo_table) {
  const fs::path kernel_dir = run_dir / k.label;
  std::error_code ec;
  fs::create_directories(kernel_dir, ec);
  if (ec) throw RunError(fmt::format("cannot create {}: {}", kernel_dir.string(), ec.message()));
  k.console_log = (fs::path(k.label) / kConsoleLog).string();
  std::vector<std::string> argv = {vm.vmrun,
                                   "--kernel",
                                   k.bzimage,
                                   "--timeout",
                                   fmt::format("{:.0f}", vm.timeout_s),
                                   "--share",
                                   run_dir.string(),
                                   "--console-log",
                                   (run_dir / k.console_log).string()};
  for (const std::string& share : vm.shares) argv.insert(argv.end(), {"--share", share});
  argv.insert(argv.end(), {"--", vm.self, "run", vm.scenario_path, "--results-dir", kernel_dir.string(), "--modes",
                           fmt::format("{}", fmt::join(vm.modes, ","))});
  if (vm.quiet) argv.push_back("--quiet");
  const ChildOutcome c = run_child(argv, echo_table);
  k.exit_code = c.exit_code;
  const std::optional<LoadedRun> run = load_if_written(kernel_dir / kRunJson);
  if (run) {
    k.run_json = (fs::path(k.label) / kRunJson).string();
    take_run_facts(k, *run, true);
  }
  if (c.stop_forwarded || c.exit_code == kExitInterrupted) {
    k.status = "interrupted";
    k.reason = "interrupted";
  } else if (c.exit_code == kExitOk && run) {
    k.status = "ok";
  } else if (c.exit_code == kExitRunFailed && run) {
    k.status = "failed";
    k.reason = failed_modes_reason(*run);
  } else {
    k.status = "failed";
    k.reason = c.exit_code == kExitOk ? fmt::format("the guest exited 0 but wrote no {}", (kernel_dir / kRunJson).string())
                                      : vm_failure_reason(c, vm, (run_dir / k.console_log).string());
  }
}

}  // namespace

double vm_timeout_for(const Scenario& sc, size_t modes, double plan_duration_s) {
  return kVmBootAllowanceS +
         double(sc.run.repetitions) * double(modes) * (plan_duration_s * kTcgSlowdown + kRepetitionSetupS);
}

int run_kernel_matrix(const std::string& scenario_path, const RunSettings& run_settings,
                      const KernelMatrixSettings& matrix_settings) {
  // Everything that can be wrong with the input is found before the first kernel runs.
  const Scenario sc = load_scenario(scenario_path);
  const std::vector<std::string> modes = run_settings.modes.empty() ? sc.receiver.modes : run_settings.modes;
  for (const std::string& name : modes)
    if (!find_mode(name))
      throw InputError(fmt::format("unknown mode '{}' (known: {})", name, fmt::join(mode_names(), ", ")));
  const std::vector<KernelChoice> kernels = resolve_kernels(matrix_settings.kernels);
  const ReplayPlan plan = build_plan(sc, load_source(sc));

  VmContext vm;
  std::error_code ec;
  vm.self = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec) throw RunError(fmt::format("cannot resolve /proc/self/exe: {}", ec.message()));
  vm.scenario_path = fs::absolute(scenario_path).string();
  const bool any_vm = std::any_of(kernels.begin(), kernels.end(), [](const KernelChoice& k) { return !k.host; });
  if (any_vm) {
    vm.vmrun = find_vmrun();
    std::vector<std::string> guest_inputs = {vm.self, vm.scenario_path};
    if (sc.source.kind == Source::Kind::Capture) guest_inputs.push_back(sc.source.capture.path);
    vm.shares = shares_for_guest_inputs(guest_inputs);
  }
  vm.modes = modes;
  vm.quiet = run_settings.quiet;
  vm.timeout_s = matrix_settings.vm_timeout_s > 0 ? matrix_settings.vm_timeout_s
                                                  : vm_timeout_for(sc, modes.size(), double(plan.duration_ns()) / 1e9);

  KernelIndex index;
  index.started_utc = utc_timestamp();
  index.scenario = {{"name", sc.name}, {"path", vm.scenario_path}};
  index.modes = modes;
  for (const KernelChoice& choice : kernels) {
    KernelRunEntry& k = index.kernels.emplace_back();
    k.label = choice.label;
    k.requested = choice.requested;
    k.bzimage = choice.bzimage;
    k.sha256 = choice.sha256;
    k.kernel_release = choice.release;
    if (choice.host) k.accel = "host";
  }
  // From here on a stop ends the running VM and records the kernels it kept from
  // running in index.json.
  StopSignal::instance().graceful();
  const fs::path run_dir =
      create_run_directory(fs::absolute(run_settings.results_root).string(), sc.name, index.started_utc);
  write_kernel_index(run_dir.string(), index);

  StopSignal& stop = StopSignal::instance();
  const bool print_tables = !matrix_settings.json_out;
  for (size_t i = 0; i < kernels.size(); ++i) {
    KernelRunEntry& k = index.kernels[i];
    if (stop.requested()) {
      k.status = "interrupted";
      k.reason = "not run: interrupted before its turn";
      continue;
    }
    if (print_tables)
      fmt::print("{}== kernel {}/{}: {} ({}) ==\n", i ? "\n" : "", i + 1, kernels.size(), k.label,
                 kernels[i].host ? fmt::format("the running kernel {}, in-process", k.kernel_release)
                                 : fmt::format("{} via {}", k.bzimage, vm.vmrun));
    std::fflush(stdout);  // the guest's table is written straight to our stdout's descriptor
    const auto start = std::chrono::steady_clock::now();
    if (kernels[i].host) run_on_host(sc, run_settings, run_dir, k, print_tables);
    else run_in_vm(vm, run_dir, k, print_tables);
    k.wall_s = seconds_since(start);
    if (print_tables && k.status == "failed") fmt::print("failed: {}\n", k.reason);
    write_kernel_index(run_dir.string(), index);
  }

  bool any_failed = false, any_interrupted = false;
  for (const KernelRunEntry& k : index.kernels) {
    any_failed = any_failed || k.status == "failed";
    any_interrupted = any_interrupted || k.status == "interrupted";
  }
  index.complete = !any_interrupted;
  write_kernel_index(run_dir.string(), index);
  if (matrix_settings.json_out) {
    std::cout << to_json(index).dump(2) << "\n";
  } else {
    fmt::print("\n== kernels side by side ==\n");
    print_kernel_side_by_side(std::cout, kernel_side_by_side(load_kernel_matrix(run_dir.string())));
  }
  fmt::print(stderr, "results: {}\n", run_dir.string());
  if (any_interrupted) return kExitInterrupted;
  return any_failed ? kExitRunFailed : kExitOk;
}

}  // namespace rcvq
