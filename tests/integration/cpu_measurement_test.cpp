// Where the receiver's CPU figures come from: threads pinned as configured, and no
// number at all where the host refuses the counter behind it.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

#include "common/errors.hpp"
#include "in_memory_run.hpp"
#include "perf_event_denied.hpp"
#include "scenario/load.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;

std::vector<int> cpus_of_this_process() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  return cpus;
}

Scenario small_scenario(const std::string& extra = "") {
  return parse_scenario(R"(
name: cpu-test
source: {synthetic: {frames: 30, payload: 2000}}
segmentation: {cut: {chunks: 3}, chunk_gap_us: 300, frame_gap_us: 300}
receiver: {modes: [baseline]}
run: {repetitions: 2, warmup_frames: 2}
)" + extra,
                        "cpu-test.yaml");
}

TEST(CpuPinning, ThreadsRunOnlyOnTheirCpusAndRunJsonSaysWhich) {
  const std::vector<int> allowed = cpus_of_this_process();
  const int receiver_cpu = allowed.back(), sender_cpu = allowed.front();
  Scenario sc = small_scenario();
  sc.receiver.cpu.cpus = {uint32_t(receiver_cpu)};
  sc.sender.cpu.cpus = {uint32_t(sender_cpu)};
  const RunOutcome out = run_in_memory(sc);
  ASSERT_EQ(out.result.modes.at(0).status, "ok") << out.result.modes.at(0).reason;
  ASSERT_EQ(out.result.modes.at(0).repetitions.size(), 2u);
  // As each thread's own sched_getaffinity saw it, every repetition.
  for (const ModeRepetition& rep : out.result.modes.at(0).repetitions) {
    EXPECT_EQ(rep.extra["affinity"]["receiver"], json::array({receiver_cpu}));
    EXPECT_EQ(rep.extra["affinity"]["sender"], json::array({sender_cpu}));
  }
  const json run = to_json(out.result);
  EXPECT_EQ(run["pinning"], json({{"receiver_cpu", receiver_cpu}, {"sender_cpu", sender_cpu}}));
}

TEST(CpuPinning, UnpinnedThreadsKeepEveryCpuAndRunJsonSaysNull) {
  const RunOutcome out = run_in_memory(small_scenario());
  const json all = cpus_of_this_process();
  for (const ModeRepetition& rep : out.result.modes.at(0).repetitions) {
    EXPECT_EQ(rep.extra["affinity"]["receiver"], all);
    EXPECT_EQ(rep.extra["affinity"]["sender"], all);
    ASSERT_TRUE(rep.extra["host_steal_percent"].is_number()) << rep.extra;
    EXPECT_GE(rep.extra["host_steal_percent"].get<double>(), 0.0);
  }
  EXPECT_EQ(to_json(out.result)["pinning"], json({{"receiver_cpu", nullptr}, {"sender_cpu", nullptr}}));
}

TEST(CpuPinning, ACpuThisProcessMayNotUseIsRefusedBeforeAnythingRuns) {
  const std::vector<int> allowed = cpus_of_this_process();
  int outside = 0;
  while (std::find(allowed.begin(), allowed.end(), outside) != allowed.end()) ++outside;
  ASSERT_LT(outside, CPU_SETSIZE);
  Scenario sc = small_scenario();
  sc.sender.cpu.cpus = {uint32_t(outside)};
  try {
    run_in_memory(sc);
    FAIL() << "CPU " << outside << " is not ours, yet the run started";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format("sender.cpu {} is not a CPU", outside)), std::string::npos)
        << e.what();
  }
}

// A host without perf events: the thread's CPU and the receive path built on it are
// null with the reason, never a stand-in; the rusage figure is still taken.
TEST(CpuMeasurement, WithoutPerfEventsTheTaskClockFiguresAreNullWithTheReason) {
  RunOutcome out;
  std::thread refused([&] {
    deny_perf_event_open_on_this_thread();  // inherited by the run's sender and receiver
    out = run_in_memory(small_scenario());
  });
  refused.join();
  ASSERT_FALSE(out.result.modes.empty());
  const json m = aggregate_metrics(out.result.modes.at(0));
  for (const char* key : {"cpu_us_per_frame", "receive_path_cpu_us_per_frame"}) {
    EXPECT_TRUE(m[key].is_null()) << key << " = " << m[key];
    const std::string why = m["unavailable"].value(key, "");
    EXPECT_NE(why.find("perf_event_open"), std::string::npos) << key << ": " << why;
    EXPECT_NE(why.find("receiver thread"), std::string::npos) << key << ": " << why;
  }
  // Only a number: getrusage reads the scheduler's last update, which a short window
  // without a sleep or a tick can leave unchanged.
  ASSERT_TRUE(m["cpu_rusage_us_per_frame"].is_number()) << m["unavailable"];
  EXPECT_GE(m["cpu_rusage_us_per_frame"].get<double>(), 0.0);
}

}  // namespace
}  // namespace rcvq
