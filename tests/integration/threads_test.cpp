// Many connections on several receiver and sender threads: every frame arrives intact
// on every connection, and the per-thread figures add up to the totals.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

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

// Each sender thread keeps its sockets in a descriptor table of its own, so 10,000
// connections need 10,000 descriptors per table, not 20,000 in one: where the hard
// RLIMIT_NOFILE lies between the two (20,000 here, not raisable without
// CAP_SYS_RESOURCE), only the split lets the run happen at all.
TEST(Threads, TenThousandConnectionsNeedOnlyOneEndPerDescriptorTable) {
  constexpr uint32_t kConnections = 10000;
  rlimit files{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
  if (files.rlim_max != RLIM_INFINITY && files.rlim_max < kConnections + 256 && geteuid() != 0)
    GTEST_SKIP() << "the hard RLIMIT_NOFILE " << files.rlim_max << " holds fewer than " << kConnections
                 << " connections' receiving ends, and raising it needs root";
  if (files.rlim_max != RLIM_INFINITY && files.rlim_max < 2 * kConnections + 256)
    std::printf("hard RLIMIT_NOFILE %llu: both ends in one table would not fit\n",
                static_cast<unsigned long long>(files.rlim_max));
  const RunOutcome out = run_in_memory(parse_scenario(R"(
source: {synthetic: {frames: 3, payload: 1000}}
framing: desc8
segmentation: {cut: whole, frame_gap_us: 20000}
receiver: {modes: [baseline], connections: 10000, threads: 2}
sender: {threads: 2}
run: {repetitions: 1, timeout_s: 60}
)",
                                                      "ten-thousand.yaml"));
  ASSERT_EQ(out.result.modes.size(), 1u);
  const ModeResult& m = out.result.modes[0];
  ASSERT_EQ(m.status, "ok") << m.reason;
  ASSERT_EQ(m.repetitions.size(), 1u);
  const ModeRepetition& r = m.repetitions[0];
  EXPECT_TRUE(r.integrity_ok) << r.integrity_detail;
  EXPECT_EQ(r.extra["connections"]["count"], kConnections);
  EXPECT_EQ(r.extra["connections"]["integrity_ok"], kConnections);
  EXPECT_EQ(r.extra["connections"]["frames_min"], 3);
}

}  // namespace
}  // namespace rcvq
