// rcvqbench: thin command-line front end; every subcommand is one library call.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <iostream>
#include <optional>

#include "capture/inspect.hpp"
#include "common/build_info.hpp"
#include "common/errors.hpp"
#include "common/privileges.hpp"
#include "common/stop.hpp"
#include "gate/gate.hpp"
#include "kernels/matrix_run.hpp"
#include "plan/plan.hpp"
#include "plan/streamed_plan.hpp"
#include "probes/host_probe.hpp"
#include "receiver/mode.hpp"
#include "remote/agent.hpp"
#include "remote/client.hpp"
#include "report/compare.hpp"
#include "report/report.hpp"
#include "report/run_table.hpp"
#include "results/writer.hpp"
#include "run/runner.hpp"
#include "scenario/load.hpp"
#include "source/source_stream.hpp"

namespace {

using namespace rcvq;

// --remote, or a scenario whose transport is remote: the receivers run on another host.
std::unique_ptr<RemoteReceiver> remote_receiver(const Scenario& sc, const std::string& remote_url,
                                                const remote::ClientOptions& options) {
  if (remote_url.empty() && sc.transport.kind != Transport::Kind::Remote) return nullptr;
  if (sc.transport.kind == Transport::Kind::Tap)
    throw InputError(fmt::format("{}: --remote replaces the transport, and a tap transport emulates a NIC here; "
                                 "use kind: remote (or loopback/veth) with --remote",
                                 sc.path));
  const std::string url = remote_url.empty() ? sc.transport.remote_host : remote_url;
  if (url.empty())
    throw InputError(fmt::format("{}: transport kind remote needs transport.host or --remote ssh://HOST", sc.path));
  return remote::connect_agent(remote::AgentAddress::parse(url), options);
}

int run_command(const std::string& scenario_path, RunSettings settings, bool json_out, const std::string& remote_url,
                const remote::ClientOptions& remote_options) {
  const Scenario sc = load_scenario(scenario_path);
  const std::unique_ptr<RemoteReceiver> remote = remote_receiver(sc, remote_url, remote_options);
  settings.remote = remote.get();
  RunOutcome outcome = run_scenario(sc, settings);
  // The measurement is shown before anything can go wrong writing it.
  if (json_out)
    std::cout << to_json(outcome.result).dump(2) << "\n";
  else
    print_run_table(std::cout, outcome.result);
  std::cout.flush();
  const int measured_code = outcome.interrupted ? 130 : outcome.any_failed ? kExitRunFailed : kExitOk;
  if (!outcome.destination) return measured_code;
  const SavedResults saved = save_results(*outcome.destination, outcome.result);
  if (saved.error.empty()) {
    fmt::print(stderr, "results: {}\n", saved.dir);
    return measured_code;
  }
  if (!saved.dir.empty()) {
    fmt::print(stderr, "rcvqbench: {}\nrcvqbench: the results are kept in {} instead\n", saved.error, saved.dir);
  } else {
    if (!json_out) std::cout << to_json(outcome.result).dump(2) << "\n";
    fmt::print(stderr, "rcvqbench: {}\nrcvqbench: nowhere could take them: run.json is on stdout\n", saved.error);
  }
  return outcome.interrupted ? 130 : kExitRunFailed;
}

// CLI11 says "A subcommand is required" for a word it does not know: name it instead.
std::optional<std::string> unknown_subcommand(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return std::nullopt;
  std::vector<std::string> known;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->check_name(argv[1])) return std::nullopt;
    known.push_back(sub->get_name());
  }
  return fmt::format("unknown subcommand '{}' (known: {})", argv[1], fmt::join(known, ", "));
}

int probe_command(bool json_out) {
  const HostProbe probe = probe_host();
  // Known kernel defects of the modes that can run here, each found by trying it.
  nlohmann::json caveats = nlohmann::json::object();
  for (const ModeDefinition& mode : receiver_modes())
    if (mode.kernel_caveat && !mode.unsupported(Scenario{}, probe))
      if (std::optional<std::string> caveat = mode.kernel_caveat()) caveats[mode.name] = *caveat;
  if (json_out) {
    std::cout << nlohmann::json{{"host", describe_host()}, {"probe", probe.to_json()}, {"mode_caveats", caveats}}.dump(2)
              << "\n";
    return kExitOk;
  }
  for (const Capability& c : probe.capabilities)
    fmt::print("{:<22} {:<4} {}\n", c.name, c.available ? "yes" : "no", c.detail);
  for (const auto& [mode, caveat] : caveats.items())
    fmt::print("caveat for {}: {}\n", mode, caveat.get<std::string>());
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  StopSignal::instance().install();
  CLI::App app{"rcvqbench: replay RPC byte streams through real TCP sockets and measure what each "
               "receiver mode pays per frame"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text());

  std::string scenario_path;
  RunSettings settings;
  settings.command_line.assign(argv, argv + argc);
  bool json_out = false;
  std::string modes_csv;

  CLI::App* run = app.add_subcommand("run", "Replay a scenario through every receiver mode and measure");
  run->add_option("scenario", scenario_path, "Scenario YAML file")->required();
  run->add_option("--out", settings.results_root, "Results root directory")->capture_default_str();
  run->add_option("--modes", modes_csv, "Comma-separated modes (overrides the scenario)");
  run->add_flag("--json", json_out, "Print run.json on stdout instead of the table");
  run->add_flag("--quiet,-q", settings.quiet, "No progress lines");
  KernelMatrixSettings matrix_settings;
  CLI::Option* kernel_option =
      run->add_option("--kernel", matrix_settings.kernels,
                      "Run under this kernel too: a bzImage (booted by tools/vmrun) or `host`; repeatable, in order")
          ->expected(1)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_option("--vm-timeout", matrix_settings.vm_timeout_s,
                  "Seconds each VM may take (default: derived from the scenario)")
      ->needs(kernel_option)
      ->check(CLI::PositiveNumber);
  run->add_option("--results-dir", settings.results_dir,
                  "Write run.json and the .hgrm files into exactly this directory")
      ->excludes(kernel_option);

  std::string remote_url;
  remote::ClientOptions remote_options;
  run->add_option("--remote", remote_url,
                      "Run the receiver modes on another host: ssh://[USER@]HOST[:PORT] (starts `rcvqbench serve "
                      "--stdio` there over ssh) or tcp://HOST:PORT (a `serve --listen` agent)")
          ->excludes(kernel_option);
  run->add_option("--ssh-option", remote_options.ssh_options,
                  "Argument for ssh before the host, e.g. --ssh-option=-i --ssh-option=KEY (after $RCVQBENCH_SSH_OPTIONS)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_option("--remote-command", remote_options.remote_command,
                  "rcvqbench on the receiver host (default $RCVQBENCH_REMOTE_COMMAND, else rcvqbench)");
  run->add_option("--token-file", remote_options.token_file, "The token of a tcp:// agent (its serve --token-file)");

  std::string listen_address, token_file;
  bool serve_stdio = false;
  CLI::App* serve = app.add_subcommand(
      "serve", "Be the receiver host of a two-host run: --stdio under ssh, or --listen ADDR:PORT --token-file F");
  CLI::Option* stdio_option = serve->add_flag("--stdio", serve_stdio, "Speak the control protocol on stdin/stdout");
  CLI::Option* listen_option =
      serve->add_option("--listen", listen_address, "Listen for one client at a time on ADDR:PORT")
          ->excludes(stdio_option);
  serve->add_option("--token-file", token_file, "File whose content a client must present")->needs(listen_option);
  serve->require_option(1, 2);

  CLI::App* version = app.add_subcommand("version", "Print the version, git commit and build type");

  CLI::App* validate = app.add_subcommand("validate", "Check a scenario without running it");
  validate->add_option("scenario", scenario_path, "Scenario YAML file")->required();

  size_t max_rows = 200;
  CLI::App* plan = app.add_subcommand("plan", "Print the replay plan: segments, sizes, send times, frames");
  plan->add_option("scenario", scenario_path, "Scenario YAML file")->required();
  plan->add_option("--rows", max_rows, "Rows to print per table")->capture_default_str()->check(CLI::Range(size_t(0), size_t(1'000'000'000)));

  CLI::App* probe = app.add_subcommand("probe", "What this kernel and host support");
  probe->add_flag("--json", json_out, "JSON output");

  InspectOptions inspect_options;
  CLI::App* inspect = app.add_subcommand("inspect", "Flows, TCP reassembly and framing of a pcap/pcapng capture");
  inspect->add_option("file", inspect_options.path, "Capture file")->required();
  inspect->add_option("--filter", inspect_options.filter, "libpcap filter expression");
  inspect->add_option("--framing", inspect_options.framing, "Framing preset, or auto")->capture_default_str();
  inspect->add_option("--max-flows", inspect_options.max_flows, "Flow cap")->capture_default_str();
  inspect->add_flag("--json", inspect_options.json, "JSON output");

  ReportOptions report_options;
  CLI::App* report = app.add_subcommand("report", "Text and HTML report with SVG plots of a results directory");
  report->add_option("results", report_options.results_dir, "Results directory (or its run.json)")->required();
  report->add_option("--html", report_options.html_path, "HTML file to write (default: <results>/report.html)");

  std::string compare_a, compare_b;
  CLI::App* compare = app.add_subcommand(
      "compare",
      "Metric-by-metric difference of two runs against their noise, or of a multi-kernel run's kernels; exit 1 when "
      "B is worse beyond the noise");
  compare->add_option("run_a", compare_a, "Results directory (or run.json) A, or a multi-kernel run directory alone")
      ->required();
  compare->add_option("run_b", compare_b, "Results directory (or run.json) B");
  compare->add_flag("--json", json_out, "Print the comparison as JSON (rcvqbench-compare/1)");

  GateOptions gate_options;
  CLI::App* gate = app.add_subcommand("gate", "Fail (exit 1) when CURRENT regressed against BASELINE (Google Benchmark JSON or run.json)");
  gate->add_option("baseline", gate_options.baseline_path, "Baseline JSON")->required();
  gate->add_option("current", gate_options.current_path, "Current JSON")->required();
  gate->add_option("--policy", gate_options.policy_path, "YAML per-metric policy (default: built in)");
  gate->add_flag("--allow-empty", gate_options.allow_empty,
                 "Pass when nothing could be compared (otherwise that fails: a gate that judged nothing)");

  if (const auto unknown = unknown_subcommand(app, argc, argv)) {
    fmt::print(stderr, "rcvqbench: {}\n", *unknown);
    return kExitBadInput;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitBadInput;
  }

  try {
    if (*run) {
      if (const std::string missing = missing_run_privileges(); !missing.empty()) {
        fmt::print(stderr, "rcvqbench: {}\n", missing);
        return kExitBadInput;
      }
      if (!modes_csv.empty()) settings.modes = parse_modes_option(modes_csv);
      if (matrix_settings.kernels.empty())
        return run_command(scenario_path, settings, json_out, remote_url, remote_options);
      matrix_settings.json_out = json_out;
      return run_kernel_matrix(scenario_path, settings, matrix_settings);
    }
    if (*serve) {
      if (const std::string missing = missing_run_privileges(); !missing.empty()) {
        fmt::print(stderr, "rcvqbench: {}\n", missing);
        return kExitBadInput;
      }
      if (serve_stdio) return remote::serve_stdio();
      if (token_file.empty()) {
        fmt::print(stderr, "rcvqbench: serve --listen needs --token-file (clients without the token are refused)\n");
        return kExitBadInput;
      }
      return remote::serve_listen(listen_address, token_file);
    }
    if (*version) {
      fmt::print("{}\n", version_text());
      return kExitOk;
    }
    if (*validate) {
      const Scenario sc = load_scenario(scenario_path);
      const ReplayPlan p = make_plan(sc, modes_need_whole_plan(sc.receiver.modes));
      fmt::print("{}: ok ({} frames, {} segments{}, modes: {})\n", scenario_path, p.frame_count(), p.segment_count(),
                 p.streamed ? ", streamed" : "", fmt::join(sc.receiver.modes, ", "));
      return kExitOk;
    }
    if (*plan) {
      const Scenario sc = load_scenario(scenario_path);
      print_plan(std::cout, sc, make_plan(sc, modes_need_whole_plan(sc.receiver.modes)), max_rows);
      return kExitOk;
    }
    if (*probe) return probe_command(json_out);
    if (*report) return report_command(report_options);
    if (*compare) return compare_command(compare_a, compare_b, json_out);
    if (*inspect) return run_inspect_command(inspect_options);
    if (*gate) return run_gate(gate_options, std::cout);
  } catch (const InputError& e) {
    fmt::print(stderr, "rcvqbench: {}\n", e.what());
    return kExitBadInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "rcvqbench: {}\n", e.what());
    // Ctrl-C reaches a child (`ip`) too, whose failure is then the stop, not the host's.
    return StopSignal::instance().requested() ? kExitInterrupted : kExitRunFailed;
  }
  return kExitOk;
}
