// The regression gate on hand-made Google Benchmark / run.json documents.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/errors.hpp"
#include "gate/gate.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;

// A file of this process under the test temp directory, removed when the test ends: two
// test binaries running at once (two checkouts' CI on one machine) must not write each
// other's files.
struct ScratchFile {
  std::string path;
  explicit ScratchFile(const std::string& name)
      : path(testing::TempDir() + "/rcvq-" + std::to_string(getpid()) + "-" + name) {}
  ~ScratchFile() {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  }
};

// One Google Benchmark row per repetition, counters as fields (what rcvqbench-bench writes).
json rows(const std::string& name, const std::vector<json>& counters_per_repetition, const std::string& label = "") {
  json out = json::array();
  int index = 0;
  for (const json& counters : counters_per_repetition) {
    json row = {{"name", name},          {"run_name", name},
                {"run_type", "iteration"}, {"repetitions", counters_per_repetition.size()},
                {"repetition_index", index++}, {"threads", 1},
                {"iterations", 1},         {"real_time", 1.0},
                {"cpu_time", 1.0},         {"time_unit", "ms"}};
    if (!label.empty()) row["label"] = label;
    row.update(counters);
    out.push_back(row);
  }
  return out;
}

json document(const std::vector<json>& row_groups) {
  json benchmarks = json::array();
  for (const json& group : row_groups)
    for (const json& row : group) benchmarks.push_back(row);
  return {{"context", {{"host_name", "test"}, {"kernel", "6.18"}}}, {"benchmarks", benchmarks}};
}

json lowat_user(double wakeups, int repetitions = 3) {
  return rows("scenario/ci/lowat-user",
              std::vector<json>(size_t(repetitions), json{{"wakeups_per_frame", wakeups}, {"syscalls_per_frame", 2 * wakeups + 1}}));
}

GateReport compare(const json& base, const json& cur, const GatePolicy& policy = default_gate_policy()) {
  return compare_benchmark_files(parse_benchmark_json(base, "base.json"), parse_benchmark_json(cur, "cur.json"), policy);
}

const GateRow& row_of(const GateReport& r, const std::string& metric) {
  for (const GateRow& row : r.rows)
    if (row.metric == metric) return row;
  throw std::runtime_error("no row for " + metric);
}

TEST(GateCompare, IdenticalRunsPass) {
  const json doc = document({lowat_user(2.0)});
  const GateReport r = compare(doc, doc);
  EXPECT_FALSE(r.failed());
  EXPECT_EQ(row_of(r, "wakeups_per_frame").verdict, GateVerdict::Ok);
  EXPECT_EQ(row_of(r, "syscalls_per_frame").verdict, GateVerdict::Ok);
  EXPECT_EQ(row_of(r, "wakeups_per_frame").change, "+0.0%");
}

TEST(GateCompare, CounterRegressionBeyondToleranceFails) {
  // lowat-user falling back to rcvlowat 1 behaviour: 2 -> 9 wakeups per frame.
  const GateReport r = compare(document({lowat_user(2.0)}), document({lowat_user(9.0)}));
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(row_of(r, "wakeups_per_frame").verdict, GateVerdict::Regression);
  EXPECT_EQ(row_of(r, "syscalls_per_frame").verdict, GateVerdict::Regression);
  EXPECT_EQ(row_of(r, "wakeups_per_frame").change, "+350.0%");
}

TEST(GateCompare, CounterToleranceIsTightButNotZero) {
  // limit = 2 * 1.05 + 0.02 = 2.12
  EXPECT_FALSE(compare(document({lowat_user(2.0)}), document({lowat_user(2.11)})).failed());
  EXPECT_TRUE(compare(document({lowat_user(2.0)}), document({lowat_user(2.13)})).failed());
  const GateReport better = compare(document({lowat_user(2.0)}), document({lowat_user(1.0)}));
  EXPECT_FALSE(better.failed());
  EXPECT_EQ(row_of(better, "wakeups_per_frame").verdict, GateVerdict::Improved);
}

TEST(GateCompare, CounterComparesMediansSoOneOutlierDoesNotFail) {
  const json cur = document({rows("scenario/ci/lowat-user", {{{"wakeups_per_frame", 2.0}},
                                                             {{"wakeups_per_frame", 2.0}},
                                                             {{"wakeups_per_frame", 5.0}}})});
  const json base = document({rows("scenario/ci/lowat-user", std::vector<json>(3, {{"wakeups_per_frame", 2.0}}))});
  EXPECT_FALSE(compare(base, cur).failed());
}

TEST(GateCompare, CounterBaselineIsItsLeastMergedRepetition) {
  // A baseline taken while the host was busy: one repetition merged wakeups (1.6).
  // A quiet run measuring the true 2.0 must not look like a regression.
  const json base = document({rows("scenario/ci/lowat-user", {{{"wakeups_per_frame", 1.6}},
                                                              {{"wakeups_per_frame", 2.0}},
                                                              {{"wakeups_per_frame", 1.7}}})});
  const json cur = document({rows("scenario/ci/lowat-user", std::vector<json>(3, {{"wakeups_per_frame", 2.0}}))});
  const GateReport r = compare(base, cur);
  EXPECT_FALSE(r.failed());
  EXPECT_EQ(row_of(r, "wakeups_per_frame").baseline, "2 (max of 3)");
  EXPECT_EQ(row_of(r, "wakeups_per_frame").change, "+0.0%");
}

// instrument/...: the replayer's throughput against iperf3 may only fall by 25%, a
// bulk run's peak RSS only grow by 10% + 8 MB, before the default policy fails.
TEST(GateCompare, InstrumentRatioAndPeakRssAreCounters) {
  auto instrument = [](double ratio, double rss_mb) {
    return document({rows("instrument/bulk_vs_iperf3/loopback", std::vector<json>(3, {{"iperf3_throughput_ratio", ratio},
                                                                                     {"replay_gbit_s", 8 * ratio},
                                                                                     {"iperf3_gbit_s", 8.0}})),
                     rows("instrument/peak_rss/bulk_100000_frames", std::vector<json>(3, {{"peak_rss_mb", rss_mb}}))});
  };
  const json base = instrument(1.0, 400);
  const GateReport same = compare(base, instrument(0.8, 440));
  EXPECT_FALSE(same.failed());
  EXPECT_EQ(row_of(same, "replay_gbit_s").verdict, GateVerdict::Reported);
  const GateReport slower = compare(base, instrument(0.7, 400));
  EXPECT_TRUE(slower.failed());
  EXPECT_EQ(row_of(slower, "iperf3_throughput_ratio").verdict, GateVerdict::Regression);
  EXPECT_EQ(row_of(compare(base, instrument(1.5, 400)), "iperf3_throughput_ratio").verdict, GateVerdict::Improved);
  const GateReport bigger = compare(base, instrument(1.0, 450));
  EXPECT_TRUE(bigger.failed());
  EXPECT_EQ(row_of(bigger, "peak_rss_mb").verdict, GateVerdict::Regression);
}

// A policy `text` whose line 2 misspells "tolerance" is refused naming the file, line and key.
void expect_misspelt_key_named(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  try {
    load_gate_policy(path);
    FAIL() << "accepted a misspelt key";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":2:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tolerence"), std::string::npos) << e.what();
  }
}

const GateRow& row_of(const GateReport& r, const std::string& benchmark, const std::string& metric) {
  for (const GateRow& row : r.rows)
    if (row.benchmark == benchmark && row.metric == metric) return row;
  throw std::runtime_error("no row for " + benchmark + " " + metric);
}

// instrument/... wall time is TCP transfers, whose length swings with the regime each
// settles in, times a round count: the default policy shows it and gates the counters;
// any other benchmark's wall time is still a timing metric.
TEST(GateCompare, InstrumentWallTimeIsReportedNotGated) {
  auto runs = [](double ms) {
    return document({rows("instrument/bulk_vs_iperf3/veth", std::vector<json>(5, {{"real_time", ms}, {"cpu_time", ms}})),
                     rows("scenario/ci/lowat-user", std::vector<json>(5, {{"real_time", ms}, {"cpu_time", ms}}))});
  };
  const GateReport r = compare(runs(100), runs(400));
  EXPECT_EQ(row_of(r, "instrument/bulk_vs_iperf3/veth", "real_time_ns").verdict, GateVerdict::Reported);
  EXPECT_EQ(row_of(r, "instrument/bulk_vs_iperf3/veth", "cpu_time_ns").verdict, GateVerdict::Reported);
  EXPECT_EQ(row_of(r, "scenario/ci/lowat-user", "real_time_ns").verdict, GateVerdict::Regression);
}

// A policy file's benchmarks: prefixes override metrics for the benchmarks they start;
// the longest prefix that lists a metric wins.
TEST(GateCompare, PolicyFileBenchmarkPrefixesOverrideMetrics) {
  const ScratchFile scratch("gate_prefix_policy.yaml");
  const std::string& path = scratch.path;
  std::ofstream(path) << "benchmarks:\n"
                         "  \"scenario/\": {wakeups_per_frame: {kind: report}}\n"
                         "  \"scenario/ci/\": {wakeups_per_frame: {tolerance: 1.0}}\n";
  const GatePolicy p = load_gate_policy(path);
  EXPECT_EQ(p.of("scenario/other/baseline", "wakeups_per_frame").kind, MetricPolicy::Kind::Report);
  EXPECT_EQ(p.of("scenario/ci/lowat-user", "wakeups_per_frame").kind, MetricPolicy::Kind::Report);
  EXPECT_DOUBLE_EQ(p.of("scenario/ci/lowat-user", "wakeups_per_frame").tolerance, 1.0);
  EXPECT_EQ(p.of("micro/x", "wakeups_per_frame").kind, MetricPolicy::Kind::Counter);
  EXPECT_EQ(p.of("scenario/ci/lowat-user", "syscalls_per_frame").kind, MetricPolicy::Kind::Counter);
  // 2.0 -> 3.5 wakeups is within the widened 100%; syscalls keep the default 5%.
  const GateReport r = compare(document({lowat_user(2.0)}), document({lowat_user(3.5)}), p);
  EXPECT_EQ(row_of(r, "wakeups_per_frame").verdict, GateVerdict::Reported);
  EXPECT_EQ(row_of(r, "syscalls_per_frame").verdict, GateVerdict::Regression);

  expect_misspelt_key_named(path, "benchmarks:\n  \"scenario/\": {wakeups_per_frame: {kind: report, tolerence: 1}}\n");
  std::ofstream(path) << "benchmarks:\n  \"scenario/\": [wakeups_per_frame]\n";
  EXPECT_THROW(load_gate_policy(path), InputError);
}

TEST(GateCompare, UnsupportedMetricIsReportedNotCompared) {
  const json base = document({rows("scenario/ci/baseline", {{{"wakeups_per_frame", 9.0}, {"kernel_data_ready_per_frame", 9.0}}})});
  const json cur = document({rows("scenario/ci/baseline", {{{"wakeups_per_frame", 9.0}}},
                                  "unsupported kernel_data_ready_per_frame: tp_btf unavailable")});
  const GateReport r = compare(base, cur);
  EXPECT_FALSE(r.failed());
  const GateRow& row = row_of(r, "kernel_data_ready_per_frame");
  EXPECT_EQ(row.verdict, GateVerdict::Unsupported);
  EXPECT_EQ(row.current, "unsupported");
  EXPECT_NE(row.note.find("tp_btf unavailable"), std::string::npos);
}

TEST(GateCompare, UnsupportedModeIsReportedNotCompared) {
  json skipped = rows("scenario/ci/autolowat", {json::object()});
  skipped[0]["error_occurred"] = true;
  skipped[0]["error_message"] = "unsupported: kernel lacks BPF_SOCK_OPS_RCVQ_CB";
  const GateReport r = compare(document({skipped}), document({skipped}));
  EXPECT_FALSE(r.failed());
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].verdict, GateVerdict::Unsupported);
  EXPECT_NE(r.rows[0].note.find("RCVQ_CB"), std::string::npos);
}

TEST(GateCompare, FailedBenchmarkIsARegression) {
  json failed = rows("scenario/ci/lowat-user", {json::object()});
  failed[0]["error_occurred"] = true;
  failed[0]["error_message"] = "failed: timed out";
  const GateReport r = compare(document({lowat_user(2.0)}), document({failed}));
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(r.rows[0].verdict, GateVerdict::Regression);
}

TEST(GateCompare, MissingBenchmarkFailsUnlessThePolicySaysReport) {
  const json base = document({lowat_user(2.0), rows("scenario/ci/baseline", {{{"wakeups_per_frame", 9.0}}})});
  const json cur = document({lowat_user(2.0)});
  EXPECT_TRUE(compare(base, cur).failed());
  GatePolicy lenient = default_gate_policy();
  lenient.missing_is_regression = false;
  const GateReport r = compare(base, cur, lenient);
  EXPECT_FALSE(r.failed());
  EXPECT_EQ(r.count(GateVerdict::Missing), 1u);
  // The other direction is only news.
  EXPECT_EQ(compare(cur, base).count(GateVerdict::New), 1u);
  EXPECT_FALSE(compare(cur, base).failed());
}

json timing_rows(const std::vector<double>& p99) {
  std::vector<json> reps;
  for (double v : p99) reps.push_back({{"p99_us", v}});
  return document({rows("scenario/ci/strparser", reps)});
}

TEST(GateCompare, TimingNeedsSignificanceAndEffect) {
  const json base = timing_rows({50, 52, 51, 49, 53});
  // 20% slower in every repetition: exact U test p = 2/252, effect 20% >= 10%.
  const GateReport slow = compare(base, timing_rows({60, 62, 61, 59, 63}));
  EXPECT_TRUE(slow.failed());
  EXPECT_EQ(row_of(slow, "p99_us").verdict, GateVerdict::Regression);
  EXPECT_NE(row_of(slow, "p99_us").note.find("p=0.00794"), std::string::npos);
  // Significant but only ~4% slower: below the minimum effect.
  const GateReport small = compare(base, timing_rows({53, 54, 55, 53.5, 54.5}));
  EXPECT_FALSE(small.failed());
  EXPECT_EQ(row_of(small, "p99_us").verdict, GateVerdict::Ok);
  // 20% slower in the median but overlapping samples: not significant.
  const GateReport noisy = compare(base, timing_rows({40, 61, 70, 45, 62}));
  EXPECT_FALSE(noisy.failed());
  // Faster is an improvement.
  EXPECT_EQ(row_of(compare(base, timing_rows({40, 41, 39, 42, 40.5})), "p99_us").verdict, GateVerdict::Improved);
}

TEST(GateCompare, TimingWithTooFewRepetitionsIsNotCompared) {
  const GateReport r = compare(timing_rows({50, 51, 52}), timing_rows({90, 91, 92}));
  EXPECT_FALSE(r.failed());
  EXPECT_EQ(row_of(r, "p99_us").verdict, GateVerdict::NotCompared);
}

TEST(GateCompare, RealTimeIsConvertedToNanoseconds) {
  const BenchmarkFile f = parse_benchmark_json(document({lowat_user(2.0, 1)}), "x.json");
  EXPECT_DOUBLE_EQ(f.benchmarks.at("scenario/ci/lowat-user").samples.at("real_time_ns")[0], 1e6);
}

TEST(GateCompare, AggregatesOnlyFilesUseTheMedianRow) {
  json agg = json::array();
  for (auto [kind, v] : {std::pair{"mean", 3.0}, {"median", 2.0}, {"stddev", 0.1}})
    agg.push_back({{"name", std::string("scenario/ci/lowat-user_") + kind}, {"run_name", "scenario/ci/lowat-user"},
                   {"run_type", "aggregate"}, {"aggregate_name", kind}, {"real_time", 1.0}, {"cpu_time", 1.0},
                   {"time_unit", "ns"}, {"wakeups_per_frame", v}});
  const BenchmarkFile f = parse_benchmark_json(document({agg}), "agg.json");
  const BenchmarkSamples& b = f.benchmarks.at("scenario/ci/lowat-user");
  EXPECT_TRUE(b.from_aggregate);
  EXPECT_EQ(b.samples.at("wakeups_per_frame"), std::vector<double>{2.0});
}

TEST(GateCompare, RunJsonIsReadAsScenarioBenchmarks) {
  const json run = {
      {"format", "rcvqbench-run/1"},
      {"scenario", {{"name", "ci"}}},
      {"host", {{"kernel", "6.18"}}},
      {"modes",
       {{"baseline",
         {{"status", "ok"},
          {"repetitions",
           {{{"wakeups_per_frame", 9.0}, {"cpu_us_per_frame", nullptr},
             {"unavailable", {{"cpu_us_per_frame", "no rusage"}}}, {"latency_ns", {{"p50", 15000}, {"p99", 30000}}},
             {"integrity", "ok"}}}}}},
        {"autolowat", {{"status", "unsupported"}, {"reason", "no hook"}, {"repetitions", json::array()}}}}}};
  const BenchmarkFile f = parse_benchmark_json(run, "run.json");
  const BenchmarkSamples& b = f.benchmarks.at("scenario/ci/baseline");
  EXPECT_EQ(b.samples.at("wakeups_per_frame"), std::vector<double>{9.0});
  EXPECT_EQ(b.samples.at("p50_us"), std::vector<double>{15.0});
  EXPECT_EQ(b.unsupported.at("cpu_us_per_frame"), "no rusage");
  EXPECT_EQ(f.benchmarks.at("scenario/ci/autolowat").status, BenchmarkSamples::Status::Unsupported);
}

TEST(GateCompare, BadFilesNameTheFile) {
  const ScratchFile scratch("gate_bad.json");
  const std::string& path = scratch.path;
  std::ofstream(path) << "{\"benchmarks\": [ {\"name\": 1} ]}";
  try {
    load_benchmark_file(path);
    FAIL() << "accepted a row without a name";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": benchmarks[0]"), std::string::npos) << e.what();
  }
  std::ofstream(path) << "{ not json";
  EXPECT_THROW(load_benchmark_file(path), InputError);
  EXPECT_THROW(load_benchmark_file(path + ".absent"), InputError);
}

TEST(GateCompare, NonFiniteCountersAreReadAsNoValue) {
  // What Google Benchmark writes for the cv of an all-zero counter; "NaN" inside a
  // string must survive.
  const ScratchFile scratch("gate_nan.json");
  const std::string& path = scratch.path;
  std::ofstream(path) << R"({"context": {"host_name": "NaN-host"}, "benchmarks": [
    {"name": "b", "run_name": "b", "run_type": "iteration", "label": "inf NaN",
     "real_time": 1, "cpu_time": 1, "time_unit": "ns", "wakeups_per_frame": 2},
    {"name": "b_cv", "run_name": "b", "run_type": "aggregate", "aggregate_name": "cv",
     "real_time": 0.1, "cpu_time": 0.1, "time_unit": "ns", "setsockopt_per_frame": NaN,
     "x": -nan, "y": -Infinity}]})";
  const BenchmarkFile f = load_benchmark_file(path);
  EXPECT_EQ(f.host["host_name"], "NaN-host");
  EXPECT_EQ(f.benchmarks.at("b").samples.at("wakeups_per_frame"), std::vector<double>{2.0});
  EXPECT_FALSE(f.benchmarks.at("b").samples.contains("setsockopt_per_frame"));
}

TEST(GateCompare, PolicyFileOverridesAndRejectsUnknownKeys) {
  const ScratchFile scratch("gate_policy.yaml");
  const std::string& path = scratch.path;
  std::ofstream(path) << "missing: report\nmetrics:\n  wakeups_per_frame: {kind: counter, tolerance: 0.5}\n"
                         "  p99_us: {kind: report}\n";
  const GatePolicy p = load_gate_policy(path);
  EXPECT_FALSE(p.missing_is_regression);
  EXPECT_DOUBLE_EQ(p.of("wakeups_per_frame").tolerance, 0.5);
  EXPECT_EQ(p.of("p99_us").kind, MetricPolicy::Kind::Report);
  EXPECT_EQ(p.of("syscalls_per_frame").kind, MetricPolicy::Kind::Counter);  // default kept
  // 2.0 -> 2.9 is within the widened 50% on wakeups; syscalls keep the default 5%.
  const GateReport r = compare(document({lowat_user(2.0)}), document({lowat_user(2.9)}), p);
  EXPECT_EQ(row_of(r, "wakeups_per_frame").verdict, GateVerdict::Ok);
  EXPECT_EQ(row_of(r, "syscalls_per_frame").verdict, GateVerdict::Regression);

  expect_misspelt_key_named(path, "metrics:\n  wakeups_per_frame: {kind: counter, tolerence: 0.5}\n");
}

TEST(GateCompare, PolicyThatIsNoRegularFileIsRefusedBeforeReading) {
  // A FIFO would block the read forever and /dev/zero would never end.
  for (const std::string& path : {std::string("/dev/zero"), testing::TempDir()}) {
    try {
      load_gate_policy(path);
      FAIL() << "read " << path << " as a policy";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

TEST(GateCompare, TableShowsEveryGatedMetricAndTheVerdict) {
  const BenchmarkFile base = parse_benchmark_json(document({lowat_user(2.0)}), "base.json");
  const BenchmarkFile cur = parse_benchmark_json(document({lowat_user(9.0)}), "cur.json");
  std::ostringstream out;
  print_gate_report(out, compare_benchmark_files(base, cur, default_gate_policy()), base, cur);
  const std::string text = out.str();
  EXPECT_NE(text.find("scenario/ci/lowat-user"), std::string::npos);
  EXPECT_NE(text.find("REGRESSION"), std::string::npos);
  EXPECT_NE(text.find("gate: FAIL"), std::string::npos);
}

}  // namespace
}  // namespace rcvq

namespace rcvq {
namespace {

TEST(GateCompare, RunSettingsInNamesDoNotChangeIdentity) {
  json a = rows("scenario/ci/lowat-user/iterations:1/repeats:3/manual_time", {{{"wakeups_per_frame", 2.0}}});
  json b = rows("scenario/ci/lowat-user/iterations:1/repeats:10/manual_time", {{{"wakeups_per_frame", 9.0}}});
  const GateReport r = compare(document({a}), document({b}));
  ASSERT_EQ(r.rows.size(), 3u);  // wakeups, real and cpu time of one benchmark
  EXPECT_EQ(r.rows[0].benchmark, "scenario/ci/lowat-user");
  EXPECT_TRUE(r.failed());
}

}  // namespace
}  // namespace rcvq

namespace rcvq {
namespace {

// One repetition per side: the timing metrics cannot be tested, so nothing is compared.
TEST(GateCompare, AGateThatComparedNothingFailsUnlessEmptyIsAllowed) {
  const json doc = document({rows("scenario/ci/baseline", {json::object()})});
  const GateReport r = compare(doc, doc);
  EXPECT_EQ(r.compared(), 0u);
  EXPECT_FALSE(r.failed());
  EXPECT_FALSE(r.passes(false));
  EXPECT_TRUE(r.passes(true));

  const std::string path = (std::filesystem::temp_directory_path() /
                            ("rcvq-gate-empty-" + std::to_string(getpid()) + ".json")).string();
  std::ofstream(path) << doc.dump();
  std::ostringstream out;
  EXPECT_EQ(run_gate({path, path, "", false}, out), 1);
  EXPECT_NE(out.str().find("gate: FAIL — 0 compared"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("nothing was compared, which fails the gate (--allow-empty accepts that)"),
            std::string::npos)
      << out.str();
  std::ostringstream allowed;
  EXPECT_EQ(run_gate({path, path, "", true}, allowed), 0);
  EXPECT_NE(allowed.str().find("gate: pass — 0 compared"), std::string::npos) << allowed.str();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace rcvq
