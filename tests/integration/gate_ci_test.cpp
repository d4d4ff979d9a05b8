// The CI regression gate end to end: rcvqbench-bench replays configs/ci/ through real
// sockets, and `rcvqbench gate` compares the counters with the committed baseline; an
// injected regression (lowat-user measured behaving like rcvlowat 1) must fail it.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <nlohmann/json.hpp>

#include "gate/bench_results.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Result {
  int code = -1;
  std::string output;  // stdout and stderr
};

Result run(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  std::string output;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) output.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

const std::string kSource = RCVQ_SOURCE_DIR;
const std::string kPolicy = kSource + "/results/baselines/policy-ci.yaml";
const std::string kBaseline = kSource + "/results/baselines/ci-scenarios.json";

std::string bench_binary() { return (fs::path(RCVQ_BINARY).parent_path() / "rcvqbench-bench").string(); }

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("rcvq-gate-" + std::to_string(getpid()) + "-" + name)).string();
}

std::string gate(const std::string& baseline, const std::string& current, const std::string& policy = kPolicy) {
  return std::string(RCVQ_BINARY) + " gate " + baseline + " " + current + (policy.empty() ? "" : " --policy " + policy);
}

// Google Benchmark writes the cv of an all-zero counter as a bare NaN: read as the gate does.
json read_json(const std::string& path) { return rcvq::read_benchmark_json(path); }

// What the bench reported: every CI scenario and mode, with counters or a reason.
void check_bench_output(const json& doc) {
  std::set<std::string> names;
  for (const json& row : doc["benchmarks"]) {
    if (row["run_type"] != "iteration") continue;
    const std::string name = row["run_name"];
    names.insert(name.substr(0, name.find("/iterations")));
    if (row.value("error_occurred", false)) {
      EXPECT_EQ(row["error_message"].get<std::string>().rfind("unsupported: ", 0), 0u) << name << ": " << row["error_message"];
      continue;
    }
    // Counted on this kernel: a wakeup per frame at the very least, a planned segment count.
    EXPECT_GE(row["wakeups_per_frame"].get<double>(), 0.5) << name;
    EXPECT_GT(row["segments_per_frame_planned"].get<double>(), 0.0) << name;
    EXPECT_GT(row["frames"].get<double>(), 0.0) << name;
    for (const char* key : {"syscalls_per_frame", "events_per_frame", "p50_us", "p99_us", "frames_per_s"})
      EXPECT_TRUE(row.contains(key)) << name << " lacks " << key;
    // Unmeasured metrics are named in the label, never reported as a number.
    for (const char* key : {"cpu_us_per_frame", "receive_path_cpu_us_per_frame", "kernel_data_ready_per_frame",
                            "kernel_wakeup_edges_per_frame"}) {
      if (!row.contains(key)) {
        EXPECT_NE(row.value("label", std::string()).find(std::string("unsupported ") + key), std::string::npos) << name;
      }
    }
  }
  for (const char* expected : {"scenario/ci-chunked/baseline", "scenario/ci-chunked/lowat-user",
                               "scenario/ci-split-prefix/lowat-user", "scenario/ci-veth/baseline"})
    EXPECT_TRUE(names.contains(expected)) << expected;
  // 9 paced chunks per frame: rcvlowat 1 wakes far more often than a reader that sets
  // SO_RCVLOWAT to the bytes it still needs.
  double baseline = 0, lowat = 0;
  for (const json& row : doc["benchmarks"])
    if (row["run_type"] == "aggregate" && row["aggregate_name"] == "median") {
      if (row["run_name"].get<std::string>().rfind("scenario/ci-chunked/baseline/", 0) == 0) baseline = row["wakeups_per_frame"];
      if (row["run_name"].get<std::string>().rfind("scenario/ci-chunked/lowat-user/", 0) == 0) lowat = row["wakeups_per_frame"];
    }
  EXPECT_GT(baseline, 3 * lowat) << "baseline " << baseline << " vs lowat-user " << lowat;
}

void check_passes_committed_baseline(const std::string& current) {
  const Result r = run(gate(kBaseline, current));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("gate: pass"), std::string::npos) << r.output;
  std::cout << r.output;
}

void check_identical_runs_pass(const std::string& current) {
  for (const std::string& policy : {kPolicy, std::string()}) {
    const Result r = run(gate(current, current, policy));
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find(" 0 regression(s)"), std::string::npos) << r.output;
  }
}

void check_injected_regression_fails(const std::string& current) {
  // lowat-user forced to baseline behaviour: the measured rcvlowat-1 rows of this run,
  // renamed to lowat-user, against the run's own lowat-user rows as the baseline.
  json doctored = read_json(current);
  json rows = json::array();
  for (const json& row : doctored["benchmarks"]) {
    const std::string name = row["name"];
    if (name.rfind("scenario/ci-chunked/lowat-user/", 0) == 0) continue;
    rows.push_back(row);
    if (name.rfind("scenario/ci-chunked/baseline/", 0) == 0) {
      json forced = row;
      for (const char* key : {"name", "run_name"})
        forced[key] = "scenario/ci-chunked/lowat-user/" + row[key].get<std::string>().substr(std::string("scenario/ci-chunked/baseline/").size());
      rows.push_back(forced);
    }
  }
  doctored["benchmarks"] = rows;
  const std::string path = temp_path("doctored.json");
  std::ofstream(path) << doctored.dump();
  const Result r = run(gate(current, path));
  fs::remove(path);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("gate: FAIL"), std::string::npos) << r.output;
  bool wakeups_flagged = false;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("REGRESSION") == std::string::npos) continue;
    EXPECT_EQ(line.rfind("scenario/ci-chunked/lowat-user ", 0), 0u) << "only the doctored benchmark regresses: " << line;
    wakeups_flagged = wakeups_flagged || line.find("wakeups_per_frame") != std::string::npos;
  }
  EXPECT_TRUE(wakeups_flagged) << r.output;
}

// One replay of the whole CI set (three repetitions, as CI runs it) feeds every check:
// ctest runs each test in its own process, so splitting would replay it four times.
TEST(GateCi, CiSetPassesTheBaselineAndAnInjectedRegressionFails) {
  const std::string current = temp_path("current.json");
  const Result bench = run(bench_binary() + " --benchmark_filter='^scenario/' --benchmark_repetitions=3 " +
                           "--benchmark_out=" + current + " --benchmark_out_format=json");
  ASSERT_EQ(bench.code, 0) << bench.output;
  {
    SCOPED_TRACE("bench output");
    check_bench_output(read_json(current));
  }
  {
    SCOPED_TRACE("against results/baselines/ci-scenarios.json");
    check_passes_committed_baseline(current);
  }
  {
    SCOPED_TRACE("identical runs");
    check_identical_runs_pass(current);
  }
  {
    SCOPED_TRACE("injected regression");
    check_injected_regression_fails(current);
  }
  fs::remove(current);
}

TEST(GateCi, BadInputExitsTwoNamingTheFile) {
  const std::string current = temp_path("tiny.json");
  std::ofstream(current) << R"({"benchmarks": [{"name": "b", "run_type": "iteration", "real_time": 1,
                                 "cpu_time": 1, "time_unit": "ns", "wakeups_per_frame": 2}]})";
  const std::string absent = temp_path("absent.json");
  Result r = run(gate(absent, current));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(absent), std::string::npos) << r.output;

  const std::string policy = temp_path("policy.yaml");
  std::ofstream(policy) << "metrics:\n  wakeups_per_frame: {kind: counter, tolerance: lots}\n";
  r = run(gate(current, current, policy));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(policy + ":2:"), std::string::npos) << r.output;

  std::ofstream(current) << "{\"benchmarks\": [";
  r = run(gate(current, current));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(current), std::string::npos) << r.output;
  fs::remove(policy);
  fs::remove(current);
}

TEST(GateBench, ExtraScenarioDirectoriesRegisterEveryMode) {
  const fs::path dir = temp_path("scenarios");
  fs::create_directories(dir);
  std::ofstream(dir / "tiny.yaml") << "name: tiny\nsource: {synthetic: {frames: 5}}\n"
                                      "receiver: {modes: [baseline, lowat-user]}\n";
  Result r = run(bench_binary() + " --no-ci-scenarios --scenarios " + dir.string() + " --benchmark_list_tests");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("scenario/tiny/baseline"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("scenario/tiny/lowat-user"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("scenario/ci-chunked/"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("micro/framing/scanner/desc8"), std::string::npos) << r.output;

  // Both directories: the CI set and the extra one, side by side.
  r = run(bench_binary() + " --scenarios " + dir.string() + " --benchmark_list_tests");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("scenario/ci-chunked/baseline"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("scenario/tiny/baseline"), std::string::npos) << r.output;

  // A bad scenario stops registration with exit 2 and its file:line.
  std::ofstream(dir / "tiny.yaml") << "name: tiny\nsource: {synthetic: {frames: 5}}\nreceiver: {modez: []}\n";
  r = run(bench_binary() + " --no-ci-scenarios --scenarios " + dir.string() + " --benchmark_list_tests");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find((dir / "tiny.yaml").string() + ":3"), std::string::npos) << r.output;

  // Two files with one scenario name would give colliding benchmark names.
  std::ofstream(dir / "tiny.yaml") << "name: tiny\n";
  std::ofstream(dir / "tiny2.yaml") << "name: tiny\n";
  r = run(bench_binary() + " --no-ci-scenarios --scenarios " + dir.string() + " --benchmark_list_tests");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("already taken"), std::string::npos) << r.output;

  r = run(bench_binary() + " --scenarios " + (dir / "absent").string() + " --benchmark_list_tests");
  EXPECT_EQ(r.code, 2) << r.output;
  fs::remove_all(dir);
}

}  // namespace
