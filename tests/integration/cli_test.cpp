// The command line as a user meets it: exit codes and messages for good and bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "integration/run_cli.hpp"

namespace {

namespace fs = std::filesystem;

using rcvq::Result;
using rcvq::rcvqbench;

std::string scenario_file(const std::string& name, const std::string& text) {
  const fs::path path = fs::temp_directory_path() / ("rcvq-cli-" + std::to_string(getpid()) + "-" + name);
  std::ofstream(path) << text;
  return path.string();
}

TEST(Cli, ValidateAcceptsEveryShippedScenario) {
  size_t validated = 0;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(RCVQ_SOURCE_DIR) / "configs")) {
    if (e.path().extension() != ".yaml") continue;
    const Result r = rcvqbench("validate " + e.path().string());
    EXPECT_EQ(r.code, 0) << e.path() << ": " << r.output;
    EXPECT_NE(r.output.find(": ok"), std::string::npos) << r.output;
    ++validated;
  }
  EXPECT_GE(validated, 5u);
  // The TAP example is there and is what configs/README.md says it is.
  const Result tap = rcvqbench(std::string("validate ") + RCVQ_SOURCE_DIR + "/configs/tap.yaml");
  EXPECT_EQ(tap.code, 0) << tap.output;
  std::ifstream tap_file(std::string(RCVQ_SOURCE_DIR) + "/configs/tap.yaml");
  const std::string tap_text((std::istreambuf_iterator<char>(tap_file)), std::istreambuf_iterator<char>());
  for (const char* key : {"kind: tap", "hds: true", "tfo: true", "reorder:"})
    EXPECT_NE(tap_text.find(key), std::string::npos) << key;
}

TEST(Cli, BadYamlExitsTwoNamingFileLineAndKey) {
  const std::string path = scenario_file("bad.yaml", "name: x\nreceiver:\n  epoll: sideways\n");
  const Result r = rcvqbench("validate " + path);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find(path + ":3:10"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("receiver.epoll"), std::string::npos) << r.output;
  EXPECT_EQ(rcvqbench("run " + path).code, 2);
  EXPECT_EQ(rcvqbench("plan " + path).code, 2);
}

TEST(Cli, MissingFilesUnknownModesAndBadFlagsExitTwo) {
  EXPECT_EQ(rcvqbench("validate /nonexistent/scenario.yaml").code, 2);
  const std::string ok = scenario_file("ok.yaml", "source: {synthetic: {frames: 3}}\n");
  const Result bad_mode = rcvqbench("run " + ok + " --modes baseline,telepathy --quiet");
  EXPECT_EQ(bad_mode.code, 2);
  EXPECT_NE(bad_mode.output.find("telepathy"), std::string::npos) << bad_mode.output;
  EXPECT_EQ(rcvqbench("run").code, 2);
  const Result unknown = rcvqbench("frobnicate");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.output.find("unknown subcommand 'frobnicate' (known: run, "), std::string::npos) << unknown.output;
  EXPECT_EQ(rcvqbench("run " + ok + " --no-such-flag").code, 2);
}

TEST(Cli, HelpOnEverySubcommandExitsZero) {
  for (const char* sub : {"", "run", "validate", "plan", "probe"}) {
    const Result r = rcvqbench(std::string(sub) + " --help");
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << r.output;
  }
}

TEST(Cli, PlanPrintsSegmentsAndFrames) {
  const std::string path = scenario_file(
      "plan.yaml", "source: {synthetic: {frames: 2, payload: 100}}\nsegmentation: {cut: {fixed: 50}, chunk_gap_us: 10}\n");
  const Result r = rcvqbench("plan " + path);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("2 frames (0 warm-up), 6 segments"), std::string::npos) << r.output;
}

TEST(Cli, ProbeReportsEveryCapabilityWithAReason) {
  const Result r = rcvqbench("probe");
  EXPECT_EQ(r.code, 0);
  for (const char* cap : {"autolowat_sockops", "autolowat_tcp_ops", "sockmap_strparser", "tp_btf_sk_data_ready",
                          "netns", "veth", "tap", "perf_sw_events", "perf_hw_events", "cgroup2", "bpffs"})
    EXPECT_NE(r.output.find(cap), std::string::npos) << cap << "\n" << r.output;
  EXPECT_EQ(rcvqbench("probe --json").code, 0);
}

TEST(Cli, RunWritesRunJsonAndHgrmAndPrintsTheTable) {
  const std::string path = scenario_file(
      "run.yaml", "name: cli-run\nsource: {synthetic: {frames: 20, payload: 1000}}\n"
                  "segmentation: {cut: {chunks: 2}, chunk_gap_us: 500}\nrun: {repetitions: 1}\n");
  const fs::path out = fs::temp_directory_path() / ("rcvq-cli-out-" + std::to_string(getpid()));
  const Result r = rcvqbench("run " + path + " --quiet --out " + out.string());
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("lowat-user"), std::string::npos) << r.output;
  bool run_json = false, hgrm = false;
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    run_json |= e.path().filename() == "run.json";
    hgrm |= e.path().filename() == "baseline.hgrm";
  }
  EXPECT_TRUE(run_json);
  EXPECT_TRUE(hgrm);
  fs::remove_all(out);
}

// Without root, `run` says so in one line before anything loads BPF (libbpf's
// RLIMIT_MEMLOCK complaints came first before).
TEST(Cli, RunWithoutRootPrintsOneLineAndExitsTwo) {
  const std::string path = scenario_file("nobody.yaml", "source: {synthetic: {frames: 3}}\n");
  const Result r = rcvqbench("run " + path + " --quiet", "setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_EQ(r.output.rfind("rcvqbench: run needs root", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("CAP_SYS_ADMIN and CAP_NET_ADMIN are missing"), std::string::npos) << r.output;
}

// Without root, `probe` still answers, and each refused program type says the process
// lacks the privileges rather than that the kernel lacks the type; libbpf's own
// complaints stay out of the table.
TEST(Cli, ProbeWithoutRootBlamesPrivilegesNotTheKernel) {
  const Result r = rcvqbench("probe", "setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("libbpf:"), std::string::npos) << r.output;
  for (const char* line : {"sockmap_strparser      no   sk_skb programs are refused to this process",
                           "sock_ops_cgroup        no   sock_ops programs are refused to this process"})
    EXPECT_NE(r.output.find(line), std::string::npos) << r.output;
}

// tools/run from elsewhere: paths are the caller's, and only rcvqbench is built. A
// stand-in cmake records the build it is asked for; a stand-in rcvqbench where it ran.
TEST(Cli, ToolsRunResolvesPathsFromTheCallersDirectoryAndBuildsOnlyRcvqbench) {
  const fs::path dir = fs::temp_directory_path() / ("rcvq-cli-tools-run-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "bin");
  fs::create_directories(dir / "build");
  fs::create_directories(dir / "caller");
  std::ofstream(dir / "build" / "build.ninja") << "# configured\n";
  std::ofstream(dir / "bin" / "cmake") << "#!/bin/sh\necho \"cmake $*\" >> " << (dir / "cmake.log").string() << "\n";
  std::ofstream(dir / "build" / "rcvqbench") << "#!/bin/sh\necho \"cwd=$PWD args=$*\"\n";
  for (const char* exe : {"bin/cmake", "build/rcvqbench"})
    fs::permissions(dir / exe, fs::perms::owner_all, fs::perm_options::add);
  const std::string command = "cd " + (dir / "caller").string() + " && PATH=" + (dir / "bin").string() +
                              ":$PATH RCVQ_BUILD_DIR=" + (dir / "build").string() + " " + RCVQ_SOURCE_DIR +
                              "/tools/run my.yaml --out results 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  EXPECT_EQ(pclose(pipe), 0) << output;
  EXPECT_NE(output.find("cwd=" + (dir / "caller").string() + " args=run my.yaml --out results"), std::string::npos)
      << output;
  std::ifstream log(dir / "cmake.log");
  const std::string builds((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(builds.find("--build " + (dir / "build").string()), std::string::npos) << builds;
  EXPECT_NE(builds.find("--target rcvqbench"), std::string::npos) << builds;
  EXPECT_EQ(std::count(builds.begin(), builds.end(), '\n'), 1) << builds;
  fs::remove_all(dir);
}

}  // namespace
