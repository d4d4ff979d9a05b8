// The core slice end to end: the quickstart pattern (4008-byte desc8 frames in 9 sends
// 1 ms apart) through real kernel sockets in private namespaces.
#include <gtest/gtest.h>

#include <cmath>

#include "in_memory_run.hpp"
#include "run/runner.hpp"
#include "scenario/load.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;

Scenario quickstart_pattern(const std::string& transport) {
  return parse_scenario(R"(
name: core-test
source: {synthetic: {frames: 80, payload: 4000}}
framing: desc8
segmentation: {cut: {chunks: 9}, chunk_gap_us: 1000, frame_gap_us: 1000}
transport: )" + transport + R"(
receiver: {modes: [baseline, lowat-user], realtime_priority: 10}
run: {repetitions: 1, warmup_frames: 5}
)",
                        "core-test.yaml");
}

json metrics_of(const RunOutcome& out, const std::string& mode) {
  for (const ModeResult& m : out.result.modes)
    if (m.mode == mode) {
      EXPECT_EQ(m.status, "ok") << mode << ": " << m.reason;
      return m.repetitions.empty() ? json() : aggregate_metrics(m);
    }
  ADD_FAILURE() << "no result for " << mode;
  return {};
}

void expect_quickstart_physics(const Scenario& sc) {
  const RunOutcome out = run_in_memory(sc);
  ASSERT_TRUE(out.result.complete);
  const json base = metrics_of(out, "baseline");
  const json lowat = metrics_of(out, "lowat-user");
  ASSERT_FALSE(base.is_null());
  ASSERT_FALSE(lowat.is_null());

  EXPECT_EQ(base["frames"], 75);
  EXPECT_EQ(base["integrity"], "ok");
  EXPECT_EQ(lowat["integrity"], "ok");
  EXPECT_GE(base["wakeups_per_frame"].get<double>(), 8.0);
  EXPECT_LE(lowat["wakeups_per_frame"].get<double>(), 2.2);
  EXPECT_LT(lowat["counts"]["recv_calls"].get<uint64_t>(), base["counts"]["recv_calls"].get<uint64_t>());
  EXPECT_GE(lowat["setsockopt_per_frame"].get<double>(), 1.0);
  EXPECT_EQ(base["setsockopt_per_frame"].get<double>(), 0.0);

  for (const json* m : {&base, &lowat}) {
    const double planned = (*m)["segments_per_frame_planned"].get<double>();
    EXPECT_NEAR(planned, 9.0, 1e-9);
    ASSERT_TRUE((*m)["segments_per_frame_achieved"].is_number());
    EXPECT_NEAR((*m)["segments_per_frame_achieved"].get<double>(), planned, planned * 0.05);
    // The kernel's sk_data_ready calls are the wakeups the reader saw.
    if ((*m)["kernel_data_ready_per_frame"].is_number()) {
      const double wakeups = (*m)["wakeups_per_frame"].get<double>();
      EXPECT_NEAR((*m)["kernel_data_ready_per_frame"].get<double>(), wakeups, wakeups * 0.02);
    } else {
      std::cout << "[ SKIPPED ] kernel data-ready comparison: "
                << (*m)["unavailable"]["kernel_data_ready_per_frame"] << "\n";
    }
    EXPECT_GT((*m)["cpu_us_per_frame"].get<double>(), 0.0);
    EXPECT_GT((*m)["latency_ns"]["p50"].get<double>(), 0.0);
    EXPECT_LT((*m)["latency_ns"]["p50"].get<double>(), 5e6);  // well under the 9 ms frame period
  }
}

TEST(CoreReplay, QuickstartPatternOverLoopback) { expect_quickstart_physics(quickstart_pattern("{kind: loopback}")); }

TEST(CoreReplay, QuickstartPatternOverVeth) {
  expect_quickstart_physics(quickstart_pattern("{kind: veth, mtu: 1500, tso: false, gso: false, gro: false}"));
}

TEST(CoreReplay, EdgeTriggeredReceiverSeesTheSameFramesIntact) {
  Scenario sc = quickstart_pattern("{kind: loopback}");
  sc.receiver.edge_triggered = true;
  sc.receiver.connections = 3;
  const RunOutcome out = run_in_memory(sc);
  const json base = metrics_of(out, "baseline");
  EXPECT_EQ(base["frames"], 3 * 75);
  EXPECT_EQ(base["integrity"], "ok");
  EXPECT_EQ(metrics_of(out, "lowat-user")["integrity"], "ok");
}

// machine.md's physics: one 4008-byte write cut into 3 segments by a 1500-byte MTU
// arrives back to back and costs ~2 wakeups at rcvlowat 1, while the same 3 segments
// sent 1 ms apart cost 3. The run also warns that the MTU split the planned sends.
TEST(CoreReplay, BackToBackSegmentsCoalesceIntoFewerWakeups) {
  const std::string veth = "{kind: veth, mtu: 1500, tso: false, gso: false, gro: false}";
  Scenario burst = quickstart_pattern(veth);
  burst.segmentation.kind = Segmentation::Kind::Whole;
  Scenario spaced = quickstart_pattern(veth);
  spaced.segmentation.chunks = 3;
  const RunOutcome burst_run = run_in_memory(burst, {"baseline"});
  const json burst_metrics = metrics_of(burst_run, "baseline");
  const json spaced_metrics = metrics_of(run_in_memory(spaced, {"baseline"}), "baseline");
  EXPECT_NEAR(burst_metrics["segments_per_frame_achieved"].get<double>(), 3.0, 0.15);
  EXPECT_NEAR(spaced_metrics["segments_per_frame_achieved"].get<double>(), 3.0, 0.15);
  EXPECT_LE(burst_metrics["wakeups_per_frame"].get<double>(), 2.5);
  EXPECT_GE(spaced_metrics["wakeups_per_frame"].get<double>(), 2.8);
  ASSERT_FALSE(burst_run.result.warnings.empty());
  EXPECT_NE(burst_run.result.warnings[0].find("segments/frame achieved"), std::string::npos);
}

}  // namespace
}  // namespace rcvq
