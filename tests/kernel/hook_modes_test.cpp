// The autolowat mode measured on a kernel with the hook, beside the modes it is judged
// against: the quickstart's frames, every shared capture with its protocol's framing,
// and the TAP transport's out-of-order, overlapping and Fast Open paths with
// header/data split. Runs inside the test kernel; elsewhere it skips with what the
// kernel lacks, unless RCVQ_REQUIRE_HOOK=1 makes that a failure.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "integration/in_memory_run.hpp"
#include "integration/run_cli.hpp"
#include "receiver/autolowat_kernel.hpp"
#include "scenario/load.hpp"

namespace rcvq {
namespace {

std::string hook_missing() { return probe_autolowat_kernel().sockops_missing(); }

#define SKIP_WITHOUT_HOOK()                                                               \
  do {                                                                                    \
    const std::string missing = hook_missing();                                           \
    if (!missing.empty()) {                                                               \
      if (const char* r = std::getenv("RCVQ_REQUIRE_HOOK"); r && std::string(r) == "1") \
        FAIL() << "RCVQ_REQUIRE_HOOK=1 but " << missing;                                  \
      GTEST_SKIP() << missing;                                                            \
    }                                                                                     \
  } while (0)

struct PerFrame {
  double wakeups = 0, early = 0;
};

// Every mode ran, intact; per-frame counts summed over repetitions.
std::map<std::string, PerFrame> per_frame(const RunOutcome& out) {
  std::map<std::string, PerFrame> by_mode;
  for (const ModeResult& m : out.result.modes) {
    SCOPED_TRACE(m.mode);
    EXPECT_EQ(m.status, "ok") << m.reason;
    uint64_t frames = 0, wakeups = 0, early = 0;
    for (const ModeRepetition& r : m.repetitions) {
      EXPECT_TRUE(r.integrity_ok) << r.integrity_detail;
      frames += r.frames;
      wakeups += r.counters.wakeups;
      early += r.counters.early_wakeups;
    }
    if (frames == 0) continue;
    by_mode[m.mode] = {double(wakeups) / double(frames), double(early) / double(frames)};
    std::printf("%-16s wakeups/frame %.3f early/frame %.3f\n", m.mode.c_str(), by_mode[m.mode].wakeups,
                by_mode[m.mode].early);
  }
  return by_mode;
}

TEST(HookModes, ProbeReportsTheSockopsBackend) {
  SKIP_WITHOUT_HOOK();
  const Result r = rcvqbench("probe --json", "", Capture::StdoutOnly);  // stdout is the JSON
  ASSERT_EQ(r.code, 0) << r.output;
  const nlohmann::json probe = nlohmann::json::parse(r.output)["probe"];
  EXPECT_TRUE(probe["autolowat_sockops"]["available"].get<bool>()) << probe["autolowat_sockops"].dump();
  EXPECT_EQ(choose_autolowat_backend(probe_autolowat_kernel(), "auto").backend, AUTOLOWAT_BACKEND_SOCKOPS);
}

// The quickstart's frames (4008 B desc8, 9 sends 1 ms apart), fewer of them and 5 ms
// apart: under TCG a reader late by a whole frame gap would merge two frames' wakeups.
TEST(HookModes, QuickstartFramesWakeTheReaderOncePerFrame) {
  SKIP_WITHOUT_HOOK();
  const RunOutcome out = run_in_memory(parse_scenario(R"(
name: hook-quickstart
source: {synthetic: {frames: 40, header: 0, payload: 4000, seed: 1}}
framing: desc8
segmentation: {cut: {chunks: 9}, chunk_gap_us: 1000, frame_gap_us: 5000}
transport: {kind: loopback}
receiver: {modes: [baseline, lowat-user, strparser, autolowat, autolowat-model]}
run: {repetitions: 1, warmup_frames: 4, timeout_s: 120}
)", "hook-quickstart.yaml"));
  auto m = per_frame(out);
  ASSERT_EQ(m.size(), 5u);
  EXPECT_LE(m["autolowat"].wakeups, 1.05);
  EXPECT_LE(m["autolowat"].early, 0.03);
  EXPECT_NEAR(m["autolowat-model"].wakeups, m["autolowat"].wakeups, 0.05 * m["autolowat"].wakeups)
      << "the model's prediction and the measurement";
  EXPECT_LT(m["autolowat"].wakeups, m["lowat-user"].wakeups);
  // The sk_data_ready counter loads on this kernel too: every event epoll delivered was
  // announced by a notification (strparser's psock owns sk_data_ready, so it has none;
  // the model's count is the one its prediction replays).
  for (const ModeResult& mode : out.result.modes)
    for (const ModeRepetition& r : mode.repetitions) {
      if (mode.mode == "strparser" || mode.mode == "autolowat-model") continue;
      ASSERT_TRUE(r.kernel_data_ready.value) << mode.mode << ": " << r.kernel_data_ready.reason;
      EXPECT_GE(*r.kernel_data_ready.value, double(r.counters.events)) << mode.mode;
    }
}

struct Capture {
  const char* file;
  const char* direction;
};

const Capture kCaptures[] = {
    {"dns-tcp-two-queries-one-segment.pcap", "client-to-server"},
    {"grpc-h2-service-name.pcap", "client-to-server"},
    {"grpc-h2-segmented-midstream.pcap", "client-to-server"},
    {"kafka-produce-v7.pcap", "client-to-server"},
    {"mongo-opquery-opmsg.pcap", "server-to-client"},
    {"mysql-caching-sha2-nsec.pcapng", "server-to-client"},
    {"pgsql-extended-midstream-port8000.pcap", "server-to-client"},
    {"tls-rawip.pcap", "server-to-client"},
};

class HookCaptures : public ::testing::TestWithParam<Capture> {};

TEST_P(HookCaptures, IntactAndNoMoreWakeupsThanTheModelPredicts) {
  SKIP_WITHOUT_HOOK();
  const std::string path = std::string(RCVQ_SHARED_DIR) + "/pcaps/" + GetParam().file;
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  const RunOutcome out = run_in_memory(parse_scenario(fmt::format(R"(
name: hook-capture
source: {{capture: {{path: {}, direction: {}}}}}
framing: auto
segmentation: {{cut: as-captured, max_gap_us: 2000}}
transport: {{kind: loopback}}
receiver: {{modes: [baseline, autolowat, autolowat-model]}}
run: {{repetitions: 1, warmup_frames: 0, timeout_s: 120}}
)", path, GetParam().direction), "hook-capture.yaml"));
  auto m = per_frame(out);
  ASSERT_EQ(m.size(), 3u);
  // Not also <= baseline: separate runs, and a late reader merges baseline's wakeups too.
  EXPECT_LE(m["autolowat"].wakeups, m["autolowat-model"].wakeups);
}

INSTANTIATE_TEST_SUITE_P(SharedPcaps, HookCaptures, ::testing::ValuesIn(kCaptures), [](const auto& info) {
  std::string name = info.param.file;
  for (char& ch : name)
    if (!std::isalnum(uint8_t(ch))) ch = '_';
  return name;
});

// Held-back, duplicated and overlapping segments reach the hook from tcp_ofo_queue and
// as overlapping in-order skbs; payload sits in page frags (hds) so only
// bpf_skb_load_bytes can read the descriptors.
TEST(HookTap, ReorderDuplicatesAndOverlapsWithHeaderDataSplitStillOneWakeupPerFrame) {
  SKIP_WITHOUT_HOOK();
  const RunOutcome out = run_in_memory(parse_scenario(R"(
name: hook-tap-ofo
source: {synthetic: {frames: 40, payload: 3992}}
framing: desc8
segmentation:
  cut: {chunks: 4}
  chunk_gap_us: 300
  frame_gap_us: 1000
  effects:
    reorder: {every: 5, by: 2}
    duplicate: {every: 9}
    overlap: {every: 7, bytes: 200}
transport: {kind: tap, hds: true}
receiver: {modes: [baseline, autolowat]}
run: {repetitions: 1, timeout_s: 120}
)", "hook-tap-ofo.yaml"));
  auto m = per_frame(out);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_LE(m["autolowat"].wakeups, 1.05);
  for (const ModeResult& r : out.result.modes) {
    if (r.mode != "autolowat" || r.repetitions.empty()) continue;
    const nlohmann::json& sender = r.repetitions[0].extra["sender"];
    EXPECT_GT(sender["receiver_mib"]["TcpExtTCPOFOQueue"].get<uint64_t>(), 0u);
    EXPECT_TRUE(sender["hds"]["verified"].get<bool>()) << sender["skb_layout"].dump();
  }
}

// The first segment rides in the SYN: the hook sees it from tcp_fastopen_add_skb, which
// only works because the listener armed the child before that data was queued.
TEST(HookTap, FastOpenDataIsTrackedFromTheSyn) {
  SKIP_WITHOUT_HOOK();
  const RunOutcome out = run_in_memory(parse_scenario(R"(
name: hook-tap-tfo
source: {synthetic: {frames: 30, payload: 3992}}
framing: desc8
segmentation: {cut: {chunks: 4}, chunk_gap_us: 300, frame_gap_us: 1000}
transport: {kind: tap, hds: true, tfo: true}
receiver: {modes: [autolowat]}
run: {repetitions: 1, timeout_s: 120}
)", "hook-tap-tfo.yaml"));
  auto m = per_frame(out);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_LE(m["autolowat"].wakeups, 1.05);
  const nlohmann::json& sender = out.result.modes.at(0).repetitions.at(0).extra["sender"];
  EXPECT_EQ(sender["tfo"]["connections_accepted"].get<uint64_t>(), 1u) << sender.dump();
  EXPECT_GT(sender["tfo"]["syn_data_bytes"].get<uint64_t>(), 0u);
}

}  // namespace
}  // namespace rcvq
