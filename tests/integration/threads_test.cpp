// Many connections on several receiver and sender threads: every frame arrives intact
// on every connection, and the per-thread figures add up to the totals.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "in_memory_run.hpp"
#include "run/thread_placement.hpp"
#include "run/runner.hpp"
#include "scenario/load.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;

TEST(Threads, ThousandConnectionsOnTwoReceiverAndTwoSenderThreads) {
  const std::vector<int> cpus = allowed_cpus();
  const Scenario sc = parse_scenario(fmt::format(R"(
name: threads-test
source: {{synthetic: {{frames: 10, payload: 1000}}}}
framing: desc8
segmentation: {{cut: whole, frame_gap_us: 20000}}
transport: {{kind: loopback}}
sender: {{threads: 2}}
receiver: {{modes: [baseline, lowat-user], connections: 1000, threads: 2, cpu: [{}, {}]}}
run: {{repetitions: 1, warmup_frames: 2, timeout_s: 60}}
)",
                                                 cpus.front(), cpus.back()),
                                     "threads-test.yaml");
  const RunOutcome out = run_in_memory(sc);
  ASSERT_EQ(out.result.modes.size(), 2u);
  for (const ModeResult& m : out.result.modes) {
    SCOPED_TRACE(m.mode);
    ASSERT_EQ(m.status, "ok") << m.reason;
    ASSERT_EQ(m.repetitions.size(), 1u);
    const ModeRepetition& r = m.repetitions[0];
    EXPECT_TRUE(r.integrity_ok) << r.integrity_detail;
    EXPECT_EQ(r.frames, 1000u * 8);
    // Each frame counts from its own sender thread's handover, which comes before the
    // frame's bytes can arrive and after its planned time.
    EXPECT_EQ(r.latency_from_send.count(), r.frames);
    EXPECT_GT(r.latency_from_send.min(), 0);
    EXPECT_GE(r.latency.min(), r.latency_from_send.min());
    const json& threads = r.extra["receiver_threads"];
    ASSERT_EQ(threads.size(), 2u);
    uint64_t connections = 0, frames = 0, wakeups = 0, syscalls = 0;
    double cpu_us = 0;
    for (const json& t : threads) {
      EXPECT_GT(t["connections"].get<uint64_t>(), 0u);
      connections += t["connections"].get<uint64_t>();
      frames += t["frames"].get<uint64_t>();
      wakeups += t["wakeups"].get<uint64_t>();
      syscalls += t["syscalls"].get<uint64_t>();
      if (t["cpu_us"].is_number()) cpu_us += t["cpu_us"].get<double>();
    }
    EXPECT_EQ(connections, 1000u);
    // receiver.cpu lists the CPUs the threads take in turn.
    EXPECT_EQ(threads[0]["cpus"], json::array({cpus.front()}));
    EXPECT_EQ(threads[1]["cpus"], json::array({cpus.back()}));
    EXPECT_EQ(frames, r.frames);
    EXPECT_EQ(wakeups, r.counters.wakeups);
    EXPECT_EQ(syscalls, r.counters.syscalls());
    if (r.cpu_us.value) {
      EXPECT_DOUBLE_EQ(cpu_us, *r.cpu_us.value);
    }
    EXPECT_EQ(r.extra["sender_threads"]["count"], 2);
    const json& summary = r.extra["connections"];
    EXPECT_EQ(summary["count"], 1000);
    EXPECT_EQ(summary["integrity_ok"], 1000);
    EXPECT_EQ(summary["frames_min"], 10);
    EXPECT_EQ(summary["frames_max"], 10);
  }
}

}  // namespace
}  // namespace rcvq
