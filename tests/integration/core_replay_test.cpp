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

// Sender and receiver share one CPU at one SCHED_FIFO priority: neither preempts the
// other and host load preempts neither, so the receiver runs exactly when the sender
// sleeps and the wakeup counts follow the plan by scheduler guarantee.
Scenario quickstart_pattern(const std::string& transport) {
  return parse_scenario(R"(
name: core-test
source: {synthetic: {frames: 80, payload: 4000}}
framing: desc8
segmentation: {cut: {chunks: 9}, chunk_gap_us: 1000, frame_gap_us: 1000}
transport: )" + transport + R"(
sender: {cpu: 0}
receiver: {modes: [baseline, lowat-user], realtime_priority: 10, cpu: 0}
run: {repetitions: 1, warmup_frames: 5}
)",
                        "core-test.yaml");
}

const ModeResult* result_of(const RunOutcome& out, const std::string& mode) {
  for (const ModeResult& m : out.result.modes)
    if (m.mode == mode) {
      EXPECT_EQ(m.status, "ok") << mode << ": " << m.reason;
      return &m;
    }
  ADD_FAILURE() << "no result for " << mode;
  return nullptr;
}

json metrics_of(const RunOutcome& out, const std::string& mode) {
  const ModeResult* m = result_of(out, mode);
  return !m || m->repetitions.empty() ? json() : aggregate_metrics(*m);
}

// What the kernel guarantees, per repetition and as absolute counts: every socket event
// epoll delivered was announced by at least one sk_data_ready call, and the wakeup
// edges are those events but for at most one per connection (a last data segment that
// carries the FIN is announced after RCV_SHUTDOWN, so it is no edge). An edge-triggered
// reader reads until EAGAIN, so it can drain the data of a notification before it
// collects that notification's event, merged with the next: it may see fewer events.
void expect_notifications_bound_the_wakeups(const ModeResult& mode, uint64_t connections, bool edge_triggered) {
  for (const ModeRepetition& rep : mode.repetitions) {
    const json j = repetition_json(rep);
    const json& counts = j["counts"];
    if (!counts["kernel_data_ready"].is_number()) {
      std::cout << "[ SKIPPED ] kernel notification bounds: " << j["unavailable"]["kernel_data_ready_per_frame"]
                << "\n";
      continue;
    }
    const uint64_t events = counts["events"], notifications = counts["kernel_data_ready"],
                   edges = counts["kernel_wakeup_edges"];
    EXPECT_GE(notifications, events) << mode.mode;
    EXPECT_LE(events, edges + connections) << mode.mode;
    if (!edge_triggered) EXPECT_LE(edges, events + connections) << mode.mode;
    EXPECT_LE(edges, notifications) << mode.mode;
    EXPECT_NEAR(j["coalesced_notifications_per_frame"].get<double>() * j["frames"].get<double>(),
                double(notifications - edges), 1e-6);
  }
}

// With sender and receiver on one CPU, the receiver drains each send while the sender
// sleeps before the next. A sender that fell a whole gap behind (the VM's vCPU taken
// by the hypervisor, which no priority inside the guest prevents) makes two sends
// without that sleep, and they may merge into one segment or one wakeup. The per-send
// counts are the plan's exactly when every send was less than a gap late.
bool sender_slept_before_every_send(const json& metrics, double gap_us) {
  const double max_late_us = metrics["send_lateness_ns"]["max"].get<double>() / 1e3;
  if (max_late_us < gap_us) return true;
  std::printf("[ NOTE ] the sender fell %.0f us behind its %.0f us gap: per-send counts checked as bounds only\n",
              max_late_us, gap_us);
  return false;
}

void expect_quickstart_physics(const Scenario& sc) {
  const RunOutcome out = run_in_memory(sc);
  ASSERT_TRUE(out.result.complete);
  for (const char* mode : {"baseline", "lowat-user"})
    if (const ModeResult* m = result_of(out, mode)) expect_notifications_bound_the_wakeups(*m, 1, false);
  const json base = metrics_of(out, "baseline");
  const json lowat = metrics_of(out, "lowat-user");
  ASSERT_FALSE(base.is_null());
  ASSERT_FALSE(lowat.is_null());

  EXPECT_EQ(base["frames"], 75);
  EXPECT_EQ(base["integrity"], "ok");
  EXPECT_EQ(lowat["integrity"], "ok");
  if (sender_slept_before_every_send(base, 1000)) EXPECT_GE(base["wakeups_per_frame"].get<double>(), 8.9);
  EXPECT_LE(base["wakeups_per_frame"].get<double>(), base["segments_per_frame_achieved"].get<double>() + 0.01);
  EXPECT_LE(lowat["wakeups_per_frame"].get<double>(), 2.2);
  EXPECT_LT(lowat["counts"]["recv_calls"].get<uint64_t>(), base["counts"]["recv_calls"].get<uint64_t>());
  EXPECT_GE(lowat["setsockopt_per_frame"].get<double>(), 1.0);
  EXPECT_EQ(base["setsockopt_per_frame"].get<double>(), 0.0);
  // The receive path spends CPU outside the receiver thread: on loopback and veth the
  // sender's send runs the receiving TCP in its own softirq.
  ASSERT_TRUE(base["net_softirq_outside_receiver_us_per_frame"].is_number()) << base["unavailable"];
  EXPECT_GT(base["net_softirq_outside_receiver_us_per_frame"].get<double>(), 0.0);

  for (const json* m : {&base, &lowat}) {
    const double planned = (*m)["segments_per_frame_planned"].get<double>();
    EXPECT_NEAR(planned, 9.0, 1e-9);
    ASSERT_TRUE((*m)["segments_per_frame_achieved"].is_number());
    if (sender_slept_before_every_send(*m, 1000))
      EXPECT_NEAR((*m)["segments_per_frame_achieved"].get<double>(), planned, 0.01);
    ASSERT_TRUE((*m)["cpu_us_per_frame"].is_number()) << (*m)["unavailable"];
    EXPECT_GT((*m)["cpu_us_per_frame"].get<double>(), 0.0);
    ASSERT_TRUE((*m)["cpu_rusage_us_per_frame"].is_number()) << (*m)["unavailable"];
    EXPECT_NEAR((*m)["receive_path_cpu_us_per_frame"].get<double>(),
                (*m)["cpu_us_per_frame"].get<double>() + (*m)["net_softirq_outside_receiver_us_per_frame"].get<double>(),
                1e-9);
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
  for (const char* mode : {"baseline", "lowat-user"})
    if (const ModeResult* m = result_of(out, mode)) expect_notifications_bound_the_wakeups(*m, 3, true);
  const json base = metrics_of(out, "baseline");
  EXPECT_EQ(base["frames"], 3 * 75);
  EXPECT_EQ(base["integrity"], "ok");
  EXPECT_EQ(metrics_of(out, "lowat-user")["integrity"], "ok");
}

// machine.md's physics made exact: one 4008-byte write cut into 3 segments by a
// 1500-byte MTU is queued whole before the sender sleeps and lets the receiver (same
// CPU, same priority) run, so it costs one wakeup at rcvlowat 1; the same 3 segments
// sent 1 ms apart cost 3. (Across CPUs machine.md measured ~2: a race, not a bound.)
// The run also warns that the MTU split the planned sends.
TEST(CoreReplay, BackToBackSegmentsCoalesceIntoFewerWakeups) {
  const std::string veth = "{kind: veth, mtu: 1500, tso: false, gso: false, gro: false}";
  Scenario burst = quickstart_pattern(veth);
  burst.segmentation.kind = Segmentation::Kind::Whole;
  Scenario spaced = quickstart_pattern(veth);
  spaced.segmentation.chunks = 3;
  const RunOutcome burst_run = run_in_memory(burst, {"baseline"});
  if (const ModeResult* m = result_of(burst_run, "baseline")) expect_notifications_bound_the_wakeups(*m, 1, false);
  const json burst_metrics = metrics_of(burst_run, "baseline");
  const json spaced_metrics = metrics_of(run_in_memory(spaced, {"baseline"}), "baseline");
  std::printf("burst: %.2f wakeups, %.2f segments per frame; spaced: %.2f wakeups, %.2f segments per frame\n",
              burst_metrics["wakeups_per_frame"].get<double>(),
              burst_metrics["segments_per_frame_achieved"].get<double>(),
              spaced_metrics["wakeups_per_frame"].get<double>(),
              spaced_metrics["segments_per_frame_achieved"].get<double>());
  EXPECT_LE(burst_metrics["wakeups_per_frame"].get<double>(), 1.05);
  if (sender_slept_before_every_send(burst_metrics, 1000))
    EXPECT_NEAR(burst_metrics["segments_per_frame_achieved"].get<double>(), 3.0, 0.01);
  if (sender_slept_before_every_send(spaced_metrics, 1000)) {
    EXPECT_NEAR(spaced_metrics["segments_per_frame_achieved"].get<double>(), 3.0, 0.01);
    EXPECT_GE(spaced_metrics["wakeups_per_frame"].get<double>(), 2.95);
  }
  EXPECT_LE(spaced_metrics["wakeups_per_frame"].get<double>(),
            spaced_metrics["segments_per_frame_achieved"].get<double>() + 0.01);
  ASSERT_FALSE(burst_run.result.warnings.empty());
  EXPECT_NE(burst_run.result.warnings[0].find("segments/frame achieved"), std::string::npos);
}

}  // namespace
}  // namespace rcvq
