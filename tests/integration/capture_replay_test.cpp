// Every shared reference capture replayed over loopback, with its captured segment
// sizes and re-segmented (held, and streamed from the file), through baseline and lowat-user: the receiver must get the
// selected direction's bytes intact and count exactly the frames inspect finds (and
// inspect's counts are checked against tshark in the unit tests).
#include <gtest/gtest.h>

#include <filesystem>

#include "capture/inspect.hpp"
#include "in_memory_run.hpp"
#include "run/runner.hpp"
#include "scenario/load.hpp"

namespace rcvq {
namespace {

struct Replayed {
  const char* file;
  const char* direction;  // as the scenario names it
  int side;               // inspect's index: 0 client->server, 1 server->client
};

const Replayed kReplays[] = {
    {"dns-tcp-two-queries-one-segment.pcap", "client-to-server", 0},
    {"grpc-h2-service-name.pcap", "client-to-server", 0},
    {"grpc-h2-segmented-midstream.pcap", "client-to-server", 0},
    {"kafka-produce-v7.pcap", "client-to-server", 0},
    {"mongo-opquery-opmsg.pcap", "server-to-client", 1},
    {"mysql-caching-sha2-nsec.pcapng", "server-to-client", 1},
    {"pgsql-extended-midstream-port8000.pcap", "server-to-client", 1},
    {"tls-rawip.pcap", "server-to-client", 1},
};

class CaptureReplay : public ::testing::TestWithParam<Replayed> {};

uint64_t inspected_frames(const std::string& path, int side) {
  InspectOptions options;
  options.path = path;
  const InspectReport report = inspect_capture(options);
  const DirectionReport& d = report.flows.at(0).directions[side];
  EXPECT_TRUE(d.framing_complete) << path << ": " << d.framing_note;
  return d.frames.frames;
}

}  // namespace

TEST_P(CaptureReplay, IntactWithInspectsFrameCount) {
  const Replayed& r = GetParam();
  const std::string path = std::string(RCVQ_SHARED_DIR) + "/pcaps/" + r.file;
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing";
  const uint64_t frames = inspected_frames(path, r.side);
  ASSERT_GT(frames, 0u);
  // As captured (gaps capped so the test stays short), then cut into 100-byte sends,
  // held and then streamed: read from the file again as it is sent.
  struct Variant {
    const char* cut;
    const char* plan;
  };
  for (const Variant& v : {Variant{"{cut: as-captured, max_gap_us: 200}", "held"},
                           Variant{"{cut: {fixed: 100}, chunk_gap_us: 50}", "held"},
                           Variant{"{cut: as-captured, max_gap_us: 200}", "streamed"},
                           Variant{"{cut: {fixed: 100}, chunk_gap_us: 50}", "streamed"}}) {
    SCOPED_TRACE(std::string(v.cut) + " " + v.plan);
    const Scenario sc = parse_scenario(std::string("name: capture-replay\nsource: {capture: {path: ") + path +
                                           ", direction: " + r.direction + "}}\nframing: auto\nsegmentation: " +
                                           v.cut +
                                           "\ntransport: {kind: loopback}\nreceiver: {modes: [baseline, lowat-user]}\n"
                                           "run: {repetitions: 1, warmup_frames: 0, timeout_s: 30, plan: " +
                                           v.plan + "}\n",
                                       "capture-replay.yaml");
    const RunOutcome out = run_in_memory(sc);
    EXPECT_EQ(out.result.plan.at("storage"), v.plan);
    ASSERT_EQ(out.result.modes.size(), 2u);
    for (const ModeResult& m : out.result.modes) {
      SCOPED_TRACE(m.mode);
      ASSERT_EQ(m.status, "ok") << m.reason;
      ASSERT_EQ(m.repetitions.size(), 1u);
      EXPECT_TRUE(m.repetitions[0].integrity_ok) << m.repetitions[0].integrity_detail;
      EXPECT_EQ(m.repetitions[0].frames, frames);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SharedPcaps, CaptureReplay, ::testing::ValuesIn(kReplays), [](const auto& info) {
  std::string name = info.param.file;
  for (char& ch : name)
    if (!std::isalnum(uint8_t(ch))) ch = '_';
  return name;
});

}  // namespace rcvq
