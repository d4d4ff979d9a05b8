// Impossible or malformed input, row by row: every case exits 2 before anything runs,
// with a message naming the file and the line, key, packet or option at fault.
#include <gtest/gtest.h>
#include <pcap/dlt.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/run_cli.hpp"
#include "unit/capture_pcap_builder.hpp"
#include "unit/scratch_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace capture_test;

struct Row {
  const char* name;
  std::string args;                     // {dir} is the row's scratch directory
  std::vector<std::string> expected;    // substrings of the message, {dir} replaced
};

std::string expand(std::string text, const std::string& dir) {
  for (size_t at = text.find("{dir}"); at != std::string::npos; at = text.find("{dir}", at + dir.size()))
    text.replace(at, 5, dir);
  return text;
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Three TCP flows, two packets each (a SYN and 8 bytes of data), on `linktype`.
Bytes three_flows(int linktype) {
  std::vector<Record> records;
  for (uint16_t port : {40001, 40002, 40003}) {
    Tcp syn{.sport = port, .seq = 999, .flags = 0x02};
    Tcp data{.sport = port, .payload = Bytes{0, 0, 0, 4, 1, 2, 3, 4}};
    records.push_back({linktype == DLT_EN10MB ? ethernet(ip_packet(syn), false) : ip_packet(syn)});
    records.push_back({linktype == DLT_EN10MB ? ethernet(ip_packet(data), false) : ip_packet(data)});
  }
  return pcap_file(linktype, records);
}

// The stored run.json with one value replaced (a JSON pointer).
std::string run_json_with(const std::string& pointer, const nlohmann::json& value) {
  std::ifstream in(rcvq::kSmallRun + "/run.json");
  nlohmann::json run = nlohmann::json::parse(in);
  run[nlohmann::json::json_pointer(pointer)] = value;
  return run.dump();
}

class CliBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = rcvq::scratch_dir("rcvq_bad_input", "cli");
    auto scenario = [&](const std::string& name, const std::string& text) { write(dir_ / name, text); };
    scenario("duplicate.yaml", "name: first\nname: second\n");
    scenario("nested_duplicate.yaml", "source:\n  synthetic:\n    frames: 5\n    frames: 6\n");
    scenario("list_key.yaml", "{[a]: 1}\n");
    scenario("map_key.yaml", "receiver:\n  {epoll: level}: 1\n");
    scenario("modes_twice.yaml", "receiver: {modes: [baseline, lowat-user, baseline]}\n");
    scenario("ok.yaml", "source: {synthetic: {frames: 5}}\n");
    scenario("threads_over.yaml", "receiver: {connections: 2,\n  threads: 3}\n");
    scenario("threads_zero.yaml", "receiver: {connections: 2}\nsender:\n  threads: 0\n");
    scenario("huge.yaml", "source: {synthetic: {frames: 10000000, payload: 1073741824}}\nrun: {plan: held}\n");
    scenario("huge_frames.yaml", "source: {synthetic: {frames: 10, payload: 1073741824}}\nrun: {max_memory_mb: 512}\n");
    scenario("budget.yaml", "source: {synthetic: {frames: 2000, payload: 1000}}\nrun: {max_memory_mb: 1}\n");
    scenario("years.yaml", "source: {synthetic: {frames: 10000, payload: 10}}\nsegmentation: {frame_gap_us: 60000000}\n");
    scenario("too_big.yaml", "# " + std::string(4 << 20, 'x') + "\n");
    fs::create_directory(dir_ / "directory.yaml");
    ASSERT_EQ(mkfifo((dir_ / "fifo.yaml").c_str(), 0600), 0);
    write(dir_ / "flows.pcap", std::string(reinterpret_cast<const char*>(three_flows(DLT_EN10MB).data()),
                                           three_flows(DLT_EN10MB).size()));
    scenario("flow_cap.yaml", "source: {capture: {path: flows.pcap, max_flows: 2}}\nframing: dns-tcp\n");
    scenario("capture_device.yaml", "source: {capture: {path: /dev/zero}}\nframing: dns-tcp\n");
    // 802.11 radiotap (127) is not decoded: every packet is of it.
    const Bytes radio = three_flows(127);
    write(dir_ / "radio.pcap", std::string(reinterpret_cast<const char*>(radio.data()), radio.size()));
    fs::create_directory(dir_ / "frames_string");
    write(dir_ / "frames_string" / "run.json", run_json_with("/modes/baseline/metrics/frames", "12"));
    fs::create_directory(dir_ / "p50_slow");
    write(dir_ / "p50_slow" / "run.json", run_json_with("/modes/lowat-user/repetitions/0/latency_ns/p50", "slow"));
    write(dir_ / "bench_string.json",
          R"({"benchmarks": [{"name": "scenario/a/baseline", "run_type": "iteration", "p50_us": "slow"}]})");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CliBadInput, EveryRowExitsTwoNamingWhatIsWrong) {
  const std::vector<Row> rows = {
      {"duplicate key", "validate {dir}/duplicate.yaml", {"{dir}/duplicate.yaml:2:1: name: duplicate key"}},
      {"nested duplicate key", "validate {dir}/nested_duplicate.yaml",
       {"{dir}/nested_duplicate.yaml:4:5: source.synthetic.frames: duplicate key"}},
      {"list as a key", "validate {dir}/list_key.yaml", {"{dir}/list_key.yaml:1:2:", "a key must be a plain name"}},
      {"mapping as a key", "plan {dir}/map_key.yaml", {"{dir}/map_key.yaml:2:3: receiver:", "plain name"}},
      {"mode twice in the scenario", "validate {dir}/modes_twice.yaml",
       {"{dir}/modes_twice.yaml:1:42: receiver.modes: mode 'baseline' is given twice"}},
      {"mode twice on the command line", "run {dir}/ok.yaml --modes baseline,baseline --out {dir}/results",
       {"--modes baseline,baseline: mode 'baseline' is given twice"}},
      {"more receiver threads than connections", "validate {dir}/threads_over.yaml",
       {"{dir}/threads_over.yaml:2:", "threads"}},
      {"no sender thread", "run {dir}/threads_zero.yaml --out {dir}/results", {"{dir}/threads_zero.yaml:3:", "threads"}},
      {"plan beyond memory", "validate {dir}/huge.yaml",
       {"{dir}/huge.yaml: the plan needs", "10000000 frames", "over run.max_memory_mb 4096",
        "source.synthetic.frames"}},
      {"plan beyond memory when run", "run {dir}/huge.yaml --out {dir}/results", {"{dir}/huge.yaml: the plan needs"}},
      {"plan beyond a lowered limit", "plan {dir}/budget.yaml", {"{dir}/budget.yaml:", "over run.max_memory_mb 1"}},
      {"streamed frame beyond memory", "run {dir}/huge_frames.yaml --out {dir}/results",
       {"{dir}/huge_frames.yaml: the streamed plan needs", "largest frame, 1073741832 bytes", "run.max_memory_mb 512"}},
      {"plan beyond a day", "validate {dir}/years.yaml",
       {"{dir}/years.yaml: one replay of the plan takes 599940 s", "run.max_duration_s 86400",
        "segmentation.frame_gap_us"}},
      {"scenario is a device", "validate /dev/zero", {"/dev/zero: scenario file must be a regular file", "character device"}},
      {"scenario is a FIFO", "validate {dir}/fifo.yaml", {"{dir}/fifo.yaml: scenario file must be a regular file", "FIFO"}},
      {"scenario is a directory", "plan {dir}/directory.yaml", {"{dir}/directory.yaml:", "a directory"}},
      {"scenario over the size limit", "validate {dir}/too_big.yaml",
       {"{dir}/too_big.yaml: scenario file is 4194307 bytes, over the limit of 4194304 bytes"}},
      {"negative plan rows", "plan {dir}/ok.yaml --rows -1", {"--rows"}},
      {"capture over the flow cap", "validate {dir}/flow_cap.yaml",
       {"{dir}/flows.pcap: packet 5: more than 2 TCP flows (raise source.capture.max_flows)"}},
      {"inspect over the flow cap", "inspect {dir}/flows.pcap --max-flows 2",
       {"{dir}/flows.pcap: packet 5: more than 2 TCP flows (raise --max-flows)"}},
      {"capture is a device", "validate {dir}/capture_device.yaml", {"/dev/zero: capture must be a regular file"}},
      {"inspect a FIFO", "inspect {dir}/fifo.yaml", {"{dir}/fifo.yaml: capture must be a regular file"}},
      {"no packet of a decoded link type", "inspect {dir}/radio.pcap",
       {"{dir}/radio.pcap: no packet could be read: link type 127 is not decoded (6 packets, the first is packet 1)"}},
      {"report: frames a string", "report {dir}/frames_string --html {dir}/r.html",
       {"{dir}/frames_string/run.json: modes.baseline.metrics.frames: expected a non-negative integer, got \"12\""}},
      {"compare: p50 not a number", "compare {dir}/p50_slow " + std::string(rcvq::kSmallRun),
       {"{dir}/p50_slow/run.json: modes.lowat-user.repetitions[0].latency_ns.p50: expected a number or null, got \"slow\""}},
      {"gate: run.json p50 not a number", "gate " + std::string(rcvq::kSmallRun) + "/run.json {dir}/p50_slow/run.json",
       {"{dir}/p50_slow/run.json: modes.lowat-user.repetitions[0].latency_ns.p50"}},
      {"gate: counter a string", "gate {dir}/bench_string.json {dir}/bench_string.json",
       {"{dir}/bench_string.json: benchmarks[0]: \"p50_us\" is not a number"}},
  };
  const std::string dir = dir_.string();
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    const rcvq::Result r = rcvq::rcvqbench(expand(row.args, dir));
    EXPECT_EQ(r.code, 2) << r.output;
    for (const std::string& part : row.expected)
      EXPECT_NE(r.output.find(expand(part, dir)), std::string::npos) << "expected '" << expand(part, dir) << "' in\n"
                                                                        << r.output;
    EXPECT_EQ(r.output.find("bad conversion"), std::string::npos) << r.output;
    if (fs::exists(dir_ / "results"))
      for (const auto& e : fs::recursive_directory_iterator(dir_ / "results"))
        EXPECT_NE(e.path().filename(), "run.json") << "a refused run wrote " << e.path();
  }
}

TEST_F(CliBadInput, AnUndecodedLinkTypeIsOneLineNotOnePerPacket) {
  const rcvq::Result r = rcvq::rcvqbench("inspect " + (dir_ / "radio.pcap").string());
  size_t lines = 0;
  for (size_t at = r.output.find("not decoded"); at != std::string::npos; at = r.output.find("not decoded", at + 1))
    ++lines;
  EXPECT_EQ(lines, 1u) << r.output;
}

}  // namespace
