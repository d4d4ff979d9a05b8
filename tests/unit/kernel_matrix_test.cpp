// The TCG timing marks: run.json, the printed table and the gate.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "gate/gate.hpp"
#include "results/run_result.hpp"
#include "results/writer.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;

const std::string kSmallRun = std::string(RCVQ_SOURCE_DIR) + "/tests/data/report_small";

// The stored small run as if a tools/vmrun guest under `accel` had written it.
json run_json_in_vm(const std::string& accel) {
  std::ifstream in(kSmallRun + "/run.json");
  json run = json::parse(in);
  run["host"]["vm"] = {{"accel", accel}, {"kernel", "/boot/vmlinuz-test"}};
  run["host"]["kernel"] = "6.1.0-test";
  return run;
}

TEST(KernelMatrix, RunJsonUnderTcgMarksItsTimesNotComparable) {
  RunResult run;
  run.host = {{"kernel", "6.1.0"}, {"vm", {{"accel", "tcg"}, {"kernel", "/boot/vmlinuz-6.1.0"}}}};
  run.timing = timing_comparability(run.host);
  ModeResult& m = run.modes.emplace_back();
  m.mode = "baseline";
  ModeRepetition& r = m.repetitions.emplace_back();
  r.frames = 10;
  r.counters.wakeups = 90;
  r.cpu_us = Measured::of(500);
  r.latency.record(120'000);
  r.wall_ns = 1'000'000'000;
  r.integrity_ok = true;

  const json j = to_json(run);
  EXPECT_EQ(j["timing_comparable"], false);
  EXPECT_NE(j["timing_reason"].get<std::string>().find("TCG"), std::string::npos);
  const json& metrics = j["modes"]["baseline"]["metrics"];
  EXPECT_EQ(metrics["timing_comparable"], false);
  EXPECT_EQ(metrics["timing_reason"], j["timing_reason"]);
  for (const char* key : {"cpu_us_per_frame", "latency_ns", "frames_per_s"})
    EXPECT_NE(std::find(metrics["timing_metrics"].begin(), metrics["timing_metrics"].end(), key),
              metrics["timing_metrics"].end())
        << key;
  EXPECT_DOUBLE_EQ(metrics["wakeups_per_frame"].get<double>(), 9.0);  // counts untouched
  EXPECT_DOUBLE_EQ(metrics["cpu_us_per_frame"].get<double>(), 50.0);

  std::ostringstream table;
  print_comparison(table, run);
  EXPECT_NE(table.str().find("50.00~"), std::string::npos) << table.str();
  EXPECT_NE(table.str().find("~ times not comparable with the host: "), std::string::npos) << table.str();

  // On the host (or under KVM) the same run says its times compare, and nothing is marked.
  for (const json& host : {json{{"kernel", "6.18"}}, json{{"vm", {{"accel", "kvm"}, {"kernel", "k"}}}}}) {
    run.host = host;
    run.timing = timing_comparability(run.host);
    EXPECT_EQ(to_json(run)["timing_comparable"], true);
    EXPECT_FALSE(to_json(run)["modes"]["baseline"]["metrics"].contains("timing_metrics"));
    std::ostringstream plain;
    print_comparison(plain, run);
    EXPECT_EQ(plain.str().find('~'), std::string::npos) << plain.str();
  }
}

TEST(KernelMatrix, GateDoesNotCompareTimesBetweenTcgAndHost) {
  const json host = json::parse(std::ifstream(kSmallRun + "/run.json"));
  const BenchmarkFile baseline = parse_benchmark_json(host, "host.json");
  const BenchmarkFile current = parse_benchmark_json(run_json_in_vm("tcg"), "tcg.json");
  const GateReport report = compare_benchmark_files(baseline, current, default_gate_policy());
  bool saw_timing = false;
  for (const GateRow& row : report.rows) {
    if (row.policy.starts_with("timing") && row.verdict != GateVerdict::Unsupported) {
      saw_timing = true;
      EXPECT_EQ(row.verdict, GateVerdict::NotCompared) << row.benchmark << " " << row.metric;
      EXPECT_EQ(row.note, "not comparable (tcg)") << row.benchmark << " " << row.metric;
    }
  }
  EXPECT_TRUE(saw_timing);
  EXPECT_FALSE(report.failed());
  std::ostringstream out;
  print_gate_report(out, report, baseline, current);
  EXPECT_NE(out.str().find("note: times not comparable (tcg): baseline ran on host, current on tcg"), std::string::npos)
      << out.str();
}

}  // namespace
}  // namespace rcvq
