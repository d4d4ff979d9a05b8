// Every shared reference capture, inspected by us and by tshark: flows, packets,
// payload segments and bytes per direction, retransmissions, and the number of
// protocol messages tshark's own dissectors find (our frame count).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "capture/inspect.hpp"

using namespace rcvq;

namespace {

struct SharedCapture {
  const char* file;
  const char* framing;         // what auto-detection must pick
  const char* decode_as;       // tshark -d argument, "" when the port is well known
  const char* message_field;   // one value per protocol message
  uint64_t preamble_client;    // unframed bytes at the start of client->server
};

const SharedCapture kCaptures[] = {
    {"dns-tcp-two-queries-one-segment.pcap", "dns-tcp", "", "dns.id", 0},
    {"grpc-h2-service-name.pcap", "http2", "tcp.port==38888,http2", "http2.type", 24},
    {"grpc-h2-segmented-midstream.pcap", "http2", "tcp.port==20035,http2", "http2.type", 0},
    {"kafka-produce-v7.pcap", "kafka", "tcp.port==36333,kafka", "kafka.len", 0},
    {"mongo-opquery-opmsg.pcap", "mongodb", "tcp.port==27017,mongo", "mongo.message_length", 0},
    {"mysql-caching-sha2-nsec.pcapng", "mysql", "", "mysql.packet_length", 0},
    {"pgsql-extended-midstream-port8000.pcap", "postgres", "tcp.port==8000,pgsql", "pgsql.length", 0},
    {"tls-rawip.pcap", "tls", "", "tls.record.length", 0},
};

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  pclose(pipe);
  return out;
}

bool have_tshark() { return std::system("command -v tshark >/dev/null 2>&1") == 0; }

std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> cells;
  std::stringstream in(line);
  for (std::string cell; std::getline(in, cell, separator);) cells.push_back(cell);
  if (!line.empty() && line.back() == separator) cells.push_back("");
  return cells;
}

struct TsharkDirection {
  uint64_t packets = 0, frame_bytes = 0, segments = 0, payload_bytes = 0, retransmissions = 0, messages = 0;
  bool syn = false;
};

// Per "stream/source ip:port": what tshark counts.
std::map<std::string, TsharkDirection> tshark_directions(const std::string& path, const SharedCapture& c) {
  std::string command = "tshark -n -r '" + path + "'";
  if (*c.decode_as) command += std::string(" -d '") + c.decode_as + "'";
  command += " -T fields -E separator=/t -e tcp.stream -e ip.src -e ipv6.src -e tcp.srcport -e frame.len"
             " -e tcp.len -e tcp.flags.syn -e tcp.analysis.retransmission -e " +
             std::string(c.message_field) + " 2>/dev/null";
  std::map<std::string, TsharkDirection> out;
  std::stringstream lines(run(command));
  for (std::string line; std::getline(lines, line);) {
    const auto f = split(line, '\t');
    if (f.size() < 9 || f[0].empty()) continue;
    const std::string address = f[1].empty() ? "[" + f[2] + "]" : f[1];
    TsharkDirection& d = out[f[0] + "/" + address + ":" + f[3]];
    ++d.packets;
    d.frame_bytes += std::stoull(f[4]);
    const uint64_t length = f[5].empty() ? 0 : std::stoull(f[5]);
    d.segments += length > 0;
    d.payload_bytes += length;
    d.syn |= f[6] == "1" || f[6] == "True";
    d.retransmissions += !f[7].empty();
    if (!f[8].empty()) d.messages += split(f[8], ',').size();
  }
  return out;
}

class SharedCaptureTest : public ::testing::TestWithParam<SharedCapture> {};

}  // namespace

TEST_P(SharedCaptureTest, InspectAgreesWithTshark) {
  const SharedCapture& c = GetParam();
  const std::string path = std::string(RCVQ_SHARED_DIR) + "/pcaps/" + c.file;
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing";
  if (!have_tshark()) GTEST_SKIP() << "tshark is not installed (tools/setup installs it): nothing independent to compare with";
  InspectOptions options;
  options.path = path;
  const InspectReport report = inspect_capture(options);
  const auto expected = tshark_directions(path, c);
  ASSERT_FALSE(expected.empty()) << "tshark printed nothing for " << path;

  size_t directions_with_packets = 0;
  for (const FlowReport& flow : report.flows) {
    for (const DirectionReport& d : flow.directions) {
      if (d.tcp.packets == 0) continue;
      ++directions_with_packets;
      const std::string key = std::to_string(flow.id) + "/" + d.from.to_string();
      SCOPED_TRACE(key);
      ASSERT_TRUE(expected.count(key)) << "tshark has no direction " << key;
      const TsharkDirection& t = expected.at(key);
      EXPECT_EQ(d.tcp.packets, t.packets);
      EXPECT_EQ(d.tcp.frame_bytes, t.frame_bytes);
      EXPECT_EQ(d.tcp.data_segments, t.segments);
      EXPECT_EQ(d.tcp.payload_bytes, t.payload_bytes);
      EXPECT_EQ(d.tcp.stream_bytes, t.payload_bytes - d.tcp.retransmitted_bytes);
      EXPECT_EQ(d.tcp.retransmitted_segments, t.retransmissions);
      EXPECT_EQ(d.tcp.syn, t.syn);
      EXPECT_EQ(d.tcp.gap_count, 0u);
      if (d.tcp.stream_bytes == 0) continue;
      EXPECT_EQ(d.framing, c.framing) << d.framing_note;
      EXPECT_TRUE(d.framing_complete) << d.framing_note;
      EXPECT_EQ(d.frames.frames, t.messages) << "frames vs tshark's " << c.message_field << " values";
    }
  }
  EXPECT_EQ(directions_with_packets, expected.size());
  const DirectionReport& client = report.flows.at(0).directions[0];
  if (client.tcp.stream_bytes) EXPECT_EQ(client.frames.preamble_bytes, c.preamble_client);
}

INSTANTIATE_TEST_SUITE_P(Pcaps, SharedCaptureTest, ::testing::ValuesIn(kCaptures),
                         [](const auto& info) {
                           std::string name = info.param.file;
                           for (char& ch : name)
                             if (!std::isalnum(uint8_t(ch))) ch = '_';
                           return name;
                         });
