// The command line as a user meets it: exit codes and messages for good and bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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

TEST(Cli, ValidateAcceptsTheShippedScenarios) {
  for (const char* name : {"quickstart.yaml", "veth.yaml", "back-to-back.yaml"}) {
    const Result r = rcvqbench(std::string("validate ") + RCVQ_SOURCE_DIR + "/configs/" + name);
    EXPECT_EQ(r.code, 0) << name << ": " << r.output;
    EXPECT_NE(r.output.find(": ok"), std::string::npos) << r.output;
  }
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
  EXPECT_EQ(rcvqbench("frobnicate").code, 2);
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

}  // namespace
