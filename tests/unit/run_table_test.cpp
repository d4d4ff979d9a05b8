// The run table and the per-mode metrics it reads: socket events beside wakeups, the
// sender's lateness against its plan and the mark on latencies from a schedule that
// was not kept, unsupported modes kept to a short row.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "report/run_data.hpp"
#include "report/run_table.hpp"
#include "results/run_result.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;

constexpr int64_t kFramePeriodNs = 1'000'000;

// 10 measured frames, 10 epoll returns that delivered 30 socket events; the sender
// `lateness_ns` behind its plan on every one of 100 segments.
ModeRepetition repetition(int64_t lateness_ns) {
  ModeRepetition r;
  r.frames = 10;
  r.bytes = 40'000;
  r.counters.epoll_waits = 12;
  r.counters.wakeups = 10;
  r.counters.events = 30;
  r.counters.recv_calls = 20;
  r.integrity_ok = true;
  r.frame_period_ns = kFramePeriodNs;
  for (int i = 0; i < 10; ++i) r.latency.record(100'000);
  for (int i = 0; i < 100; ++i) r.send_lateness.record(lateness_ns);
  return r;
}

ModeResult mode(const std::string& name, int64_t lateness_ns) {
  ModeResult m;
  m.mode = name;
  m.repetitions.push_back(repetition(lateness_ns));
  return m;
}

std::string table_of(const RunResult& run) {
  std::ostringstream out;
  print_run_table(out, run);
  return out.str();
}

std::string line_of(const std::string& text, const std::string& start) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(start, 0) == 0) return line;
  return "";
}

TEST(RunJson, EventsPerFrameCountsTheSocketReportsEpollDelivered) {
  const json m = aggregate_metrics(mode("baseline", 0));
  EXPECT_DOUBLE_EQ(m["wakeups_per_frame"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(m["events_per_frame"].get<double>(), 3.0);
  EXPECT_EQ(m["counts"]["events"], 30);
  EXPECT_DOUBLE_EQ(m["spread"]["events_per_frame"]["median"].get<double>(), 3.0);
}

TEST(RunJson, SenderLatenessAndWhetherTheScheduleWasKept) {
  const int64_t limit_ns = int64_t(kScheduleLatenessFraction * kFramePeriodNs);
  const json kept = aggregate_metrics(mode("baseline", limit_ns / 2));
  EXPECT_EQ(kept["frame_period_ns"], kFramePeriodNs);
  ASSERT_TRUE(kept["send_lateness_ns"].is_object());
  for (const char* p : {"p50", "p99", "max"}) EXPECT_TRUE(kept["send_lateness_ns"][p].is_number()) << p;
  EXPECT_EQ(kept["send_lateness_ns"]["max"], limit_ns / 2);
  EXPECT_EQ(kept["schedule_kept"], true);

  const json missed = aggregate_metrics(mode("baseline", 2 * limit_ns));
  EXPECT_EQ(missed["schedule_kept"], false);

  // Frames all due at once leave no period to fall behind.
  ModeResult burst = mode("baseline", 2 * limit_ns);
  burst.repetitions[0].frame_period_ns = 0;
  EXPECT_EQ(aggregate_metrics(burst)["schedule_kept"], true);

  // No recorded send: unknown, with the reason.
  ModeResult unsent = mode("baseline", 0);
  unsent.repetitions[0].send_lateness = Histogram();
  const json u = aggregate_metrics(unsent);
  EXPECT_TRUE(u["schedule_kept"].is_null());
  EXPECT_TRUE(u["send_lateness_ns"].is_null());
  EXPECT_TRUE(u["unavailable"].contains("send_lateness_ns"));
}

TEST(RunTable, ShowsEventsBesideWakeups) {
  RunResult run;
  run.modes.push_back(mode("baseline", 0));
  const std::string table = table_of(run);
  const std::string header = line_of(table, "mode");
  ASSERT_NE(header.find("wakeups/frame"), std::string::npos);
  EXPECT_GT(header.find("events/frame"), header.find("wakeups/frame"));
  EXPECT_NE(line_of(table, "baseline").find("3.00 (1.00x)"), std::string::npos) << table;
}

// The table ends with the report's verdict, judged from the same run.json.
TEST(RunTable, EndsWithTheVerdictAgainstBaseline) {
  RunResult run;
  run.modes.push_back(mode("baseline", 0));
  ModeResult lowat = mode("lowat-user", 0);
  lowat.repetitions[0].counters.wakeups = 4;
  run.modes.push_back(lowat);
  const std::string table = table_of(run);
  const size_t verdict = table.find("verdict (against baseline, per frame):\n");
  ASSERT_NE(verdict, std::string::npos) << table;
  EXPECT_NE(table.find("  lowat-user: saves 60% of wakeups (1.00 → 0.40/frame)", verdict), std::string::npos) << table;
  EXPECT_TRUE(table.ends_with("named from 1%)\n")) << table;  // one repetition a side: no noise test
}

TEST(RunTable, MarksLatencyFromAScheduleTheSenderDidNotKeep) {
  RunResult run;
  run.modes.push_back(mode("baseline", 0));
  run.modes.push_back(mode("lowat-user", 10 * kFramePeriodNs));
  const std::string table = table_of(run);
  EXPECT_EQ(line_of(table, "baseline").find('!'), std::string::npos) << table;
  EXPECT_NE(line_of(table, "lowat-user").find("100.0! (1.00x)"), std::string::npos) << table;
  EXPECT_NE(line_of(table, "! latency from a schedule the sender did not keep"), "") << table;

  run.modes.pop_back();
  EXPECT_EQ(table_of(run).find('!'), std::string::npos) << "no legend without a marked latency";
}

TEST(RunTable, ModeWithoutMeasurementsGetsAShortRowAndItsReasonOnceBelow) {
  RunResult run;
  run.modes.reserve(3);  // the references below must outlive the emplace_backs
  run.modes.push_back(mode("baseline", 0));
  ModeResult& unsupported = run.modes.emplace_back();
  unsupported.mode = "autolowat";
  unsupported.status = "unsupported";
  unsupported.reason = std::string(300, 'x');
  ModeResult& not_run = run.modes.emplace_back();
  not_run.mode = "strparser";
  not_run.status = "not run";
  not_run.reason = "interrupted before its first repetition completed";

  const std::string table = table_of(run);
  EXPECT_EQ(line_of(table, "autolowat "), "autolowat          unsupported") << table;
  EXPECT_EQ(line_of(table, "strparser "), "strparser          not run") << table;
  EXPECT_EQ(line_of(table, "autolowat unsupported: "), "autolowat unsupported: " + unsupported.reason);
  EXPECT_EQ(table.find(unsupported.reason), table.rfind(unsupported.reason)) << "the reason is said once";
  const size_t header_end = table.find('\n');
  EXPECT_LT(table.find("strparser not run: interrupted"), table.size());
  EXPECT_GT(table.find("autolowat unsupported: "), header_end);
}

TEST(RunJson, ModesReadBackInTheOrderTheyRanNotTheScenarios) {
  LoadedRun run;
  run.run = {{"scenario", {{"config", {{"receiver", {{"modes", {"baseline", "lowat-user", "strparser"}}}}}}}},
             {"modes", {{"baseline", json::object()}, {"lowat-user", json::object()}}}};
  EXPECT_EQ(run.mode_names(), (std::vector<std::string>{"baseline", "lowat-user"}));
  // --modes lowat-user,baseline
  run.run["provenance"] = {{"modes", {"lowat-user", "baseline"}}, {"modes_overridden", true}};
  EXPECT_EQ(run.mode_names(), (std::vector<std::string>{"lowat-user", "baseline"}));
}

}  // namespace
}  // namespace rcvq
