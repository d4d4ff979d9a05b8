// What a run says about itself: socket events at scale, whether the sender kept its
// schedule, and what produced the run (version, commit, command line, times, load,
// inputs), through the CLI as a user runs it.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/build_info.hpp"
#include "common/sha256.hpp"
#include "in_memory_run.hpp"
#include "report/run_table.hpp"
#include "run_cli.hpp"
#include "scenario/load.hpp"
#include "unit/scratch_dir.hpp"

namespace rcvq {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The one run.json a run wrote under `out`.
json run_json_under(const fs::path& out) {
  for (const auto& entry : fs::recursive_directory_iterator(out))
    if (entry.path().filename() == "run.json") return json::parse(read_text(entry.path()));
  ADD_FAILURE() << "no run.json under " << out;
  return json::object();
}

// A schedule no sender can keep, by construction: each 4000-byte frame is due 1 µs after
// the previous one and goes to 32 connections, i.e. 128 MB/s per µs of plan (128 GB/s),
// beyond what one thread's sends (or the memory they copy) can do.
constexpr const char* kImpossibleSchedule = R"(name: impossible-schedule
source: {synthetic: {frames: 100, payload: 4000}}
framing: desc8
segmentation: {cut: {chunks: 1}, chunk_gap_us: 0, frame_gap_us: 1}
transport: {kind: loopback}
receiver: {modes: [baseline], connections: 32}
run: {repetitions: 1, warmup_frames: 5}
)";

// One frame every 200 ms: a quarter of that (50 ms) is far beyond any sleep's overshoot
// on a realtime sender thread.
constexpr const char* kRelaxedSchedule = R"(name: relaxed-schedule
source: {synthetic: {frames: 6, payload: 4000}}
framing: desc8
segmentation: {cut: {chunks: 1}, chunk_gap_us: 0, frame_gap_us: 200000}
transport: {kind: loopback}
receiver: {modes: [baseline], realtime_priority: 10}
run: {repetitions: 1, warmup_frames: 1}
)";

TEST(Schedule, OneThatCannotBeKeptIsWarnedOnStderrAndItsLatenciesMarked) {
  const fs::path dir = scratch_dir("rcvq_schedule", "impossible");
  std::ofstream(dir / "impossible.yaml") << kImpossibleSchedule;
  const Result r = rcvqbench(fmt::format("run {} --out {} --quiet 2>{}", (dir / "impossible.yaml").string(),
                                         (dir / "results").string(), (dir / "stderr.txt").string()),
                             "", Capture::StdoutOnly);
  ASSERT_EQ(r.code, 0) << r.output << read_text(dir / "stderr.txt");
  const std::string err = read_text(dir / "stderr.txt");
  EXPECT_NE(err.find("warning: baseline: the sender ran"), std::string::npos) << err;
  EXPECT_NE(r.output.find("! latency from a schedule the sender did not keep"), std::string::npos) << r.output;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("baseline", 0) == 0) {
      EXPECT_NE(line.find('!'), std::string::npos) << line;
    }

  const json doc = run_json_under(dir / "results");
  const json& m = doc["modes"]["baseline"]["metrics"];
  EXPECT_EQ(m["schedule_kept"], false);
  EXPECT_GT(m["send_lateness_ns"]["p99"].get<double>(), kScheduleLatenessFraction * m["frame_period_ns"].get<double>());
  EXPECT_GE(m["send_lateness_ns"]["max"].get<double>(), m["send_lateness_ns"]["p50"].get<double>());

  // Every epoll return delivers one to 32 socket events.
  const json& counts = m["counts"];
  EXPECT_GE(counts["events"].get<uint64_t>(), counts["wakeups"].get<uint64_t>());
  EXPECT_LE(counts["events"].get<uint64_t>(), 32 * counts["wakeups"].get<uint64_t>());
  EXPECT_DOUBLE_EQ(m["events_per_frame"].get<double>() * m["frames"].get<double>(),
                   counts["events"].get<double>());
  fs::remove_all(dir);
}

TEST(Schedule, ARelaxedOneIsKeptWithoutWarningOrMark) {
  const RunOutcome out = run_in_memory(parse_scenario(kRelaxedSchedule, "relaxed.yaml"));
  ASSERT_EQ(out.result.modes.size(), 1u);
  const ModeResult& m = out.result.modes[0];
  ASSERT_EQ(m.status, "ok") << m.reason;
  const json metrics = aggregate_metrics(m);
  EXPECT_EQ(metrics["schedule_kept"], true) << metrics["send_lateness_ns"];
  for (const std::string& w : out.result.warnings) EXPECT_EQ(w.find("behind its schedule"), std::string::npos) << w;
  std::ostringstream table;
  print_run_table(table, out.result);
  EXPECT_EQ(table.str().find('!'), std::string::npos) << table.str();
  // One connection, level-triggered: each epoll return reports exactly that socket.
  EXPECT_EQ(metrics["counts"]["events"], metrics["counts"]["wakeups"]);
}

// The commit a version line names, without the -dirty suffix.
std::string commit_of(const std::string& version_line) {
  std::smatch match;
  if (!std::regex_search(version_line, match, std::regex(R"(\(commit ([0-9a-f]+)(-dirty)?, )"))) return "";
  return match[1];
}

TEST(Provenance, VersionNamesTheCommitTheBinaryWasBuiltFrom) {
  const Result flag = rcvqbench("--version");
  const Result sub = rcvqbench("version");
  EXPECT_EQ(flag.code, 0) << flag.output;
  EXPECT_EQ(sub.code, 0) << sub.output;
  EXPECT_EQ(flag.output, sub.output);
  EXPECT_EQ(sub.output.rfind("rcvqbench ", 0), 0u) << sub.output;
  EXPECT_NE(sub.output.find(version_text()), std::string::npos) << "the test and the binary share one build";
  const std::string commit = commit_of(sub.output);
  ASSERT_FALSE(commit.empty()) << sub.output;
  // Later commits may have moved HEAD since the build; the commit must still exist.
  EXPECT_EQ(std::system(fmt::format("git -C {} cat-file -e {}^{{commit}}", RCVQ_SOURCE_DIR, commit).c_str()), 0)
      << commit;
}

TEST(Provenance, RunJsonSaysWhatProducedItAndKeepsTheScenariosTypes) {
  const fs::path dir = scratch_dir("rcvq_provenance", "capture");
  const std::string capture = std::string(RCVQ_SHARED_DIR) + "/pcaps/dns-tcp-two-queries-one-segment.pcap";
  std::ofstream(dir / "capture.yaml") << "name: provenance\n"
                                         "source: {capture: {path: " << capture << ", direction: server-to-client}}\n"
                                         "framing: auto\n"
                                         "segmentation: {cut: as-captured, max_gap_us: 2000}\n"
                                         "transport: {kind: loopback}\n"
                                         "receiver: {modes: [baseline, lowat-user]}\n"
                                         "run: {repetitions: 1, warmup_frames: 0, timeout_s: \"30\"}\n";
  const std::string args = fmt::format("run {} --out {} --modes baseline --quiet", (dir / "capture.yaml").string(),
                                       (dir / "results").string());
  const Result r = rcvqbench(args);
  ASSERT_EQ(r.code, 0) << r.output;
  const json doc = run_json_under(dir / "results");
  const json& p = doc["provenance"];
  EXPECT_EQ(p["tool"], "rcvqbench");
  EXPECT_EQ(p["version"], build_info().version);
  EXPECT_EQ(p["commit"], build_info().commit);
  EXPECT_EQ(p["build_type"], build_info().build_type);
  const std::vector<std::string> argv = p["command_line"];
  ASSERT_FALSE(argv.empty());
  EXPECT_EQ(argv.front(), RCVQ_BINARY);
  std::string joined;
  for (size_t i = 1; i < argv.size(); ++i) joined += (i > 1 ? " " : "") + argv[i];
  EXPECT_EQ(joined, args);
  EXPECT_EQ(p["modes"], json::array({"baseline"}));
  EXPECT_EQ(p["modes_overridden"], true);
  const std::regex rfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  ASSERT_TRUE(std::regex_match(p["started_at"].get<std::string>(), rfc3339)) << p["started_at"];
  ASSERT_TRUE(std::regex_match(p["ended_at"].get<std::string>(), rfc3339)) << p["ended_at"];
  EXPECT_LE(p["started_at"].get<std::string>(), p["ended_at"].get<std::string>());
  for (const char* when : {"before", "after"})
    for (const char* span : {"1m", "5m", "15m"}) EXPECT_GE(p["load_average"][when][span].get<double>(), 0.0);
  EXPECT_EQ(p["capture"]["path"], fs::path(capture).lexically_normal().string());
  EXPECT_EQ(p["capture"]["sha256"], sha256_of_file(capture));
  EXPECT_TRUE(doc["pinning"].is_object());

  const json& config = doc["scenario"]["config"];
  EXPECT_EQ(config["run"]["repetitions"], 1);
  EXPECT_EQ(config["run"]["warmup_frames"], 0);
  EXPECT_EQ(config["run"]["timeout_s"], "30") << "quoted, so a string";
  EXPECT_EQ(config["source"]["capture"]["path"], capture);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rcvq
