// Decoding, reassembly and flow selection on crafted captures whose every byte the
// test controls: each expectation follows from how the capture was built.
#include <gtest/gtest.h>
#include <pcap/dlt.h>

#include <fstream>

#include "capture/capture_stream.hpp"
#include "capture/inspect.hpp"
#include "capture/pcap_reader.hpp"
#include "common/errors.hpp"
#include "framing/detect.hpp"
#include "scenario/load.hpp"
#include "unit/capture_pcap_builder.hpp"

using namespace capture_test;
using namespace rcvq;

namespace {

const DirectionReport& client_side(const InspectReport& r) { return r.flows.at(0).directions[0]; }

InspectReport inspect_file(const std::string& path, const std::string& framing = "auto") {
  InspectOptions o;
  o.path = path;
  o.framing = framing;
  return inspect_capture(o);
}

}  // namespace

TEST(CaptureDecode, EveryLinkTypeYieldsTheSameStream) {
  const Bytes stream = kafka_frames(3, 500);
  struct Case {
    const char* name;
    int linktype;
    bool ipv6;
    Bytes (*frame)(const Bytes&, bool);
  };
  auto eth = [](const Bytes& ip, bool v6) { return ethernet(ip, v6); };
  auto vlan = [](const Bytes& ip, bool v6) { return ethernet(ip, v6, {0x8100}); };
  auto qinq = [](const Bytes& ip, bool v6) { return ethernet(ip, v6, {0x88a8, 0x8100}); };
  auto raw = [](const Bytes& ip, bool) { return ip; };
  const Case cases[] = {{"ethernet", DLT_EN10MB, false, eth},    {"vlan", DLT_EN10MB, false, vlan},
                        {"qinq", DLT_EN10MB, false, qinq},       {"sll", DLT_LINUX_SLL, false, linux_sll},
                        {"sll2", DLT_LINUX_SLL2, true, linux_sll2}, {"raw", 101, false, raw},
                        {"null", DLT_NULL, true, bsd_null},      {"ipv6", DLT_EN10MB, true, eth},
                        {"fddi", DLT_FDDI, false, fddi},         {"fddi-ipv6", DLT_FDDI, true, fddi}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<Record> records;
    for (size_t at = 0; at < stream.size(); at += 700) {
      Tcp tcp{.seq = uint32_t(5000 + at)};
      if (c.ipv6) tcp.src = "2001:db8::1", tcp.dst = "2001:db8::2", tcp.ipv6 = true, tcp.ipv6_extension = true;
      tcp.payload.assign(stream.begin() + at, stream.begin() + std::min(stream.size(), at + 700));
      records.push_back({c.frame(ip_packet(tcp), c.ipv6), UINT32_MAX, UINT32_MAX, int64_t(at)});
    }
    const std::string path = write_temp(std::string(c.name) + ".pcap", pcap_file(c.linktype, records));
    const InspectReport report = inspect_file(path);
    ASSERT_EQ(report.flows.size(), 1u);
    const DirectionReport& d = client_side(report);
    EXPECT_EQ(d.tcp.stream_bytes, stream.size());
    EXPECT_EQ(d.tcp.data_segments, 3u);
    EXPECT_EQ(d.framing, "kafka");
    EXPECT_EQ(d.frames.frames, 3u);
    EXPECT_EQ(d.from.to_string(), c.ipv6 ? "[2001:db8::1]:40000" : "10.0.0.1:40000");
    // Segments of 700 bytes over 504-byte frames: frames 2 and 3 start mid-segment.
    EXPECT_EQ(d.frames.frames_spanning_segments, 2u);
    EXPECT_EQ(d.frames.multi_frame_segments, 2u);
  }
}

TEST(CaptureDecode, Ipv4AfterIpv6KeepsItsFlow) {
  // The decoder reuses one segment for every packet: an IPv6 packet between two IPv4
  // ones of the same connection must not leave its address bytes behind.
  const Bytes stream = kafka_frames(2, 300);
  std::vector<Record> records = conversation(stream, {{0, 304}});
  Tcp v6{.src = "2001:db8::1", .dst = "2001:db8::2", .payload = Bytes(10, 1), .ipv6 = true};
  records.push_back({ethernet(ip_packet(v6), true)});
  const std::vector<Record> rest = conversation(stream, {{304, 304}}, false);
  records.insert(records.end(), rest.begin(), rest.end());
  const InspectReport r = inspect_file(write_temp("v4-v6-v4.pcap", pcap_file(DLT_EN10MB, records)));
  ASSERT_EQ(r.flows.size(), 2u);
  EXPECT_EQ(client_side(r).tcp.stream_bytes, stream.size());
  EXPECT_EQ(client_side(r).frames.frames, 2u);
}

TEST(CaptureReassembly, OutOfOrderRetransmissionAndConflictingOverlap) {
  const Bytes stream = kafka_frames(2, 296);  // 600 bytes
  Bytes conflicting(stream.begin() + 250, stream.begin() + 350);
  for (size_t i = 0; i < 10; ++i) conflicting[i] ^= 0xff;  // 10 bytes disagree with the first copy
  const auto records = conversation(stream, {{0, 200}, {400, 200}, {200, 200}, {0, 200}, {250, 100, conflicting}});
  const std::string path = write_temp("reorder.pcap", pcap_file(DLT_EN10MB, records));
  const InspectReport report = inspect_file(path);
  const DirectionReport& d = client_side(report);
  EXPECT_EQ(d.tcp.stream_bytes, 600u);
  EXPECT_EQ(d.tcp.out_of_order_segments, 1u);
  EXPECT_EQ(d.tcp.retransmitted_segments, 2u);
  EXPECT_EQ(d.tcp.conflicting_bytes, 10u);
  EXPECT_EQ(d.tcp.unchecked_overlap_bytes, 0u);
  EXPECT_EQ(d.tcp.first_conflict_packet, 8u);
  EXPECT_EQ(d.tcp.gap_count, 0u);
  EXPECT_TRUE(d.framing_complete);
  // The replayed stream keeps the first copy of every byte.
  const SourceStream s = capture_stream(capture_scenario(path, "kafka"));
  EXPECT_EQ(s.bytes, stream);
  ASSERT_EQ(s.segments.size(), 3u);
  EXPECT_EQ(s.segments[1].offset, 200u);  // the hole filler goes before the early segment
  EXPECT_EQ(s.segments[2].offset, 400u);
  EXPECT_GE(s.segments[2].time_ns, s.segments[1].time_ns);
}

TEST(CaptureReassembly, LostBytesStopOrResyncAtTheNextFrame) {
  const Bytes stream = kafka_frames(6, 96);  // frames of 100 bytes
  // Bytes 150..250 never make it into the capture: frames 1 and 2 are damaged.
  const auto records = conversation(stream, {{0, 150}, {250, 150}, {400, 200}});
  const std::string path = write_temp("gap.pcap", pcap_file(DLT_EN10MB, records));
  const InspectReport report = inspect_file(path);
  const DirectionReport& d = client_side(report);
  ASSERT_EQ(d.tcp.gap_count, 1u);
  EXPECT_EQ(d.tcp.gaps[0].offset, 150u);
  EXPECT_EQ(d.tcp.gaps[0].length, 100u);
  EXPECT_EQ(d.tcp.gaps[0].packet, 5u);
  EXPECT_EQ(d.frames.frames, 1u);  // framing stops at the gap

  const SourceStream stopped = capture_stream(capture_scenario(path, "kafka"));
  EXPECT_EQ(stopped.bytes, Bytes(stream.begin(), stream.begin() + 100));
  EXPECT_NE(stopped.description.find("stopped at the gap of 100 bytes at stream offset 150"), std::string::npos)
      << stopped.description;

  const SourceStream resumed = capture_stream(capture_scenario(path, "kafka", CaptureSource::OnGap::Resync));
  Bytes expected(stream.begin(), stream.begin() + 100);
  expected.insert(expected.end(), stream.begin() + 300, stream.end());
  EXPECT_EQ(resumed.bytes, expected);
  EXPECT_EQ(split_frames(framing_preset("kafka"), resumed.bytes).size(), 4u);
}

TEST(CaptureReassembly, MidStreamStartNeedsResync) {
  const Bytes stream = kafka_frames(5, 96);
  const auto records = conversation(stream, {{30, 170}, {200, 300}}, false);
  const std::string path = write_temp("midstream.pcap", pcap_file(DLT_EN10MB, records));
  const InspectReport report = inspect_file(path, "kafka");
  const DirectionReport& d = client_side(report);
  EXPECT_FALSE(d.tcp.syn);
  EXPECT_EQ(d.tcp.stream_bytes, 470u);
  try {
    capture_stream(capture_scenario(path, "kafka"));
    FAIL() << "a mid-frame start must not replay silently";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("on_gap: resync"), std::string::npos) << e.what();
  }
  const SourceStream s = capture_stream(capture_scenario(path, "kafka", CaptureSource::OnGap::Resync));
  EXPECT_EQ(s.bytes, Bytes(stream.begin() + 100, stream.end()));
  EXPECT_EQ(s.segments.front().offset, 0u);
  EXPECT_EQ(s.segments.front().length, 100u);
}

TEST(CaptureReassembly, SnaplenTruncatedPayloadBecomesAGap) {
  const Bytes stream = kafka_frames(3, 196);
  auto records = conversation(stream, {{0, 200}, {200, 200}, {400, 200}});
  records[4].caplen = uint32_t(records[4].data.size() - 50);  // the second data segment loses 50 bytes
  const std::string path = write_temp("snaplen.pcap", pcap_file(DLT_EN10MB, records));
  const InspectReport report = inspect_file(path);
  const DirectionReport& d = client_side(report);
  EXPECT_EQ(d.tcp.truncated_segments, 1u);
  EXPECT_EQ(d.tcp.first_truncated_packet, 5u);
  ASSERT_EQ(d.tcp.gap_count, 1u);
  EXPECT_EQ(d.tcp.gaps[0].offset, 350u);
  EXPECT_EQ(d.tcp.gaps[0].length, 50u);
  EXPECT_EQ(d.tcp.payload_bytes, 600u);  // what the wire carried
  EXPECT_EQ(d.tcp.stream_bytes, 550u);
}

TEST(CaptureReassembly, SnaplenCutRetransmissionAddsNothing) {
  // Found by fuzz_capture: a retransmission whose captured part is all old data.
  const Bytes stream = kafka_frames(3, 96);
  auto records = conversation(stream, {{0, 200}, {100, 200}, {200, 100}});
  records[4].caplen = uint32_t(records[4].data.size() - 150);  // 50 old bytes captured
  const std::string path = write_temp("snaplen-retransmit.pcap", pcap_file(DLT_EN10MB, records));
  const InspectReport report = inspect_file(path, "kafka");
  const DirectionReport& d = client_side(report);
  EXPECT_EQ(d.tcp.truncated_segments, 1u);
  EXPECT_EQ(d.tcp.stream_bytes, 300u);
  EXPECT_EQ(d.frames.frames, 3u);
  EXPECT_EQ(d.tcp.gap_count, 0u);
}

TEST(CaptureReassembly, RetransmissionsOlderThanTheHistoryAreCountedUnchecked) {
  const Bytes stream = kafka_frames(20, 996);  // 20000 bytes, more than the 8 KiB history
  std::vector<Piece> pieces;
  for (size_t at = 0; at < stream.size(); at += 1000) pieces.push_back({at, 1000});
  pieces.push_back({0, 1000});
  const std::string path = write_temp("old-retransmit.pcap", pcap_file(DLT_EN10MB, conversation(stream, pieces)));
  const InspectReport report = inspect_file(path, "kafka");
  const DirectionReport& d = client_side(report);
  EXPECT_EQ(d.tcp.retransmitted_segments, 1u);
  EXPECT_EQ(d.tcp.unchecked_overlap_bytes, 1000u);
  EXPECT_EQ(d.tcp.conflicting_bytes, 0u);
}

TEST(CaptureReassembly, SequenceNumbersWrapAround) {
  const Bytes stream = kafka_frames(4, 296);
  const auto records = conversation(stream, {{0, 400}, {400, 400}, {800, 400}}, true, 0xffffff00u);
  const std::string path = write_temp("wrap.pcap", pcap_file(DLT_EN10MB, records));
  const SourceStream s = capture_stream(capture_scenario(path, "kafka"));
  EXPECT_EQ(s.bytes, stream);
}

TEST(CaptureReassembly, NanosecondTimestampsKeepTheirGaps) {
  const Bytes stream = kafka_frames(2, 96);
  const auto records = conversation(stream, {{0, 100}, {100, 100}});
  const std::string path = write_temp("nsec.pcap", pcap_file(DLT_EN10MB, records, true));
  const SourceStream s = capture_stream(capture_scenario(path, "kafka"));
  ASSERT_EQ(s.segments.size(), 2u);
  EXPECT_EQ(s.segments[0].time_ns, 0);
  EXPECT_EQ(s.segments[1].time_ns, 1500);  // conversation() spaces packets 1500 ns apart
}

TEST(CaptureRobustness, BadFilesNameTheFileAndPacket) {
  const Bytes good = pcap_file(DLT_EN10MB, conversation(kafka_frames(2, 96), {{0, 200}}));
  auto expect_error = [](const std::string& path, const std::string& part) {
    try {
      inspect_file(path);
      ADD_FAILURE() << path << ": expected an error mentioning '" << part << "'";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  };
  expect_error(write_temp("empty.pcap", {}), "cannot read");
  expect_error(write_temp("garbage.pcap", Bytes(100, 0x5a)), "cannot read");
  expect_error(write_temp("truncated.pcap", Bytes(good.begin(), good.end() - 30)), "packet 4");
  expect_error("/nonexistent/file.pcap", "cannot read");
  InspectOptions bad_filter;
  bad_filter.path = write_temp("ok.pcap", good);
  bad_filter.filter = "tcp port banana";
  EXPECT_THROW(inspect_capture(bad_filter), InputError);
  bad_filter.filter = "";
  bad_filter.framing = "nonsense";
  EXPECT_THROW(inspect_capture(bad_filter), InputError);
}

TEST(CaptureRobustness, OddPacketsAreCountedNotFatal) {
  std::vector<Record> records = conversation(kafka_frames(2, 96), {{0, 200}});
  Tcp fragment{.payload = Bytes(64, 1), .ipv4_fragment = 0x2000};
  Tcp udp{.payload = Bytes(10, 1), .protocol = 17};
  records.push_back({ethernet(ip_packet(fragment), false)});
  records.push_back({ethernet(ip_packet(udp), false)});
  records.push_back({Bytes(10, 0)});                                 // shorter than an Ethernet header
  Record caplen_above_len{ethernet(ip_packet(Tcp{.payload = Bytes(5, 1)}), false)};
  caplen_above_len.wire_length = 20;
  records.push_back(caplen_above_len);
  Bytes bad_offset = ethernet(ip_packet(Tcp{.payload = Bytes(5, 1)}), false);
  bad_offset[14 + 20 + 12] = 0x20;  // TCP data offset 2 words
  records.push_back({bad_offset});
  const InspectReport r = inspect_file(write_temp("odd.pcap", pcap_file(DLT_EN10MB, records)));
  EXPECT_EQ(r.counts.packets, 9u);
  EXPECT_EQ(r.counts.fragments, 1u);
  EXPECT_EQ(r.counts.not_tcp, 1u);
  EXPECT_EQ(r.counts.truncated, 1u);
  EXPECT_EQ(r.counts.malformed, 1u);
  EXPECT_EQ(r.counts.caplen_above_wire, 1u);
  ASSERT_GE(r.counts.warnings.size(), 3u);
  EXPECT_EQ(r.counts.warnings[0].rfind("packet 5:", 0), 0u) << r.counts.warnings[0];
  EXPECT_EQ(client_side(r).tcp.stream_bytes, 200u);
}

TEST(CaptureFraming, PostgresStartupAndSslAnswerArePreambles) {
  Bytes client;
  put32(client, 8), put32(client, 80877103);  // SSLRequest
  put32(client, 12), put32(client, 196608), put32(client, 0);  // StartupMessage, protocol 3.0
  client.push_back('Q'), put32(client, 8), client.insert(client.end(), {'s', 'e', 'l', 0});
  auto length = preamble_length(framing_preset("postgres"), client, true);
  ASSERT_TRUE(length);
  EXPECT_EQ(*length, 20u);
  EXPECT_EQ(split_frames(resolve_preamble(framing_preset("postgres"), client), client).size(), 1u);
  Bytes server = {'N', 'R'};
  put32(server, 8), put32(server, 0);
  EXPECT_EQ(*preamble_length(framing_preset("postgres"), server, true), 1u);
  Bytes typed = {'Z'};
  put32(typed, 5);
  typed.push_back('I');
  EXPECT_EQ(*preamble_length(framing_preset("postgres"), typed, true), 0u);
  EXPECT_FALSE(preamble_length(framing_preset("postgres"), Bytes{0, 0, 0}, false)) << "needs more bytes";
}

TEST(CaptureFraming, AutoSaysWhenNothingFits) {
  const Bytes random = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03};
  try {
    resolve_framing(framing_preset("auto"), random, "x.pcap");
    FAIL() << "random bytes framed";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no preset frames the stream completely"), std::string::npos) << e.what();
  }
  FramingDetector detector;
  const Bytes kafka = kafka_frames(3, 40);
  detector.feed_segment(std::span(kafka).first(10));
  detector.feed_segment(std::span(kafka).subspan(10));
  detector.finish();
  const auto verdict = detector.verdict();
  ASSERT_TRUE(verdict.winner);
  EXPECT_EQ(verdict.winner->candidate().name, "kafka");
  EXPECT_EQ(verdict.winner->stats().frames, 3u);
  EXPECT_EQ(verdict.winner->stats().frames_spanning_segments, 1u);
}

TEST(CaptureScenario, YamlCaptureSourceResolvesAutoFraming) {
  const std::string pcap = write_temp("yaml.pcap", pcap_file(DLT_EN10MB, conversation(kafka_frames(2, 96), {{0, 200}})));
  const std::string yaml_path = write_temp("scenario.yaml", {});
  std::ofstream(yaml_path) << "source:\n  capture:\n    path: " << pcap
                           << "\n    direction: client-to-server\nsegmentation:\n  cut: as-captured\n";
  const Scenario sc = load_scenario(yaml_path);
  EXPECT_EQ(sc.framing.name, "kafka");
  EXPECT_FALSE(sc.framing.needs_stream());
  std::ofstream(yaml_path) << "source:\n  capture:\n    path: " << pcap
                           << "\nframing: {preset: kafka, preamble_bytes: 4}\n";
  const Scenario with_preamble = load_scenario(yaml_path);
  EXPECT_EQ(with_preamble.framing.spec.preamble, 4u);
  EXPECT_EQ(with_preamble.framing.preamble, Bytes({0, 0, 0, 96}));
  std::ofstream(yaml_path) << "source:\n  synthetic: {frames: 3}\nframing: auto\n";
  EXPECT_THROW(load_scenario(yaml_path), InputError);
}

namespace {

void put_block(Bytes& file, uint32_t type, const Bytes& body) {
  Bytes padded = body;
  while (padded.size() % 4) padded.push_back(0);
  const uint32_t total = uint32_t(padded.size() + 12);
  put32le(file, type);
  put32le(file, total);
  file.insert(file.end(), padded.begin(), padded.end());
  put32le(file, total);
}

Bytes interface_block(uint16_t linktype, int nanosecond_exponent) {
  Bytes body = {uint8_t(linktype), uint8_t(linktype >> 8), 0, 0};
  put32le(body, 262144);
  if (nanosecond_exponent) {
    body.insert(body.end(), {9, 0, 1, 0, uint8_t(nanosecond_exponent), 0, 0, 0});  // if_tsresol
    body.insert(body.end(), {0, 0, 0, 0});                                          // opt_endofopt
  }
  return body;
}

Bytes enhanced_packet(uint32_t interface, uint64_t stamp, const Bytes& data) {
  Bytes body;
  put32le(body, interface);
  put32le(body, uint32_t(stamp >> 32));
  put32le(body, uint32_t(stamp));
  put32le(body, uint32_t(data.size()));
  put32le(body, uint32_t(data.size()));
  body.insert(body.end(), data.begin(), data.end());
  return body;
}

}  // namespace

TEST(CaptureDecode, PcapngWithMixedLinkTypes) {
  // libpcap 1.10 refuses this file; one flow's packets come through an Ethernet
  // interface (microseconds) and a raw-IP one (nanoseconds), alternating.
  const Bytes stream = kafka_frames(4, 296);
  Bytes file;
  Bytes section;
  put32le(section, 0x1A2B3C4D);
  section.insert(section.end(), {1, 0, 0, 0});
  put32le(section, 0xffffffff), put32le(section, 0xffffffff);
  put_block(file, 0x0A0D0D0A, section);
  put_block(file, 1, interface_block(DLT_EN10MB, 0));
  put_block(file, 1, interface_block(101, 9));
  for (size_t k = 0; k < 4; ++k) {
    Tcp tcp{.seq = uint32_t(100 + 300 * k)};
    tcp.payload.assign(stream.begin() + 300 * k, stream.begin() + 300 * (k + 1));
    const bool raw = k % 2;
    const uint64_t stamp = raw ? 2'000'000'000ULL + k * 1000 : 2'000'000ULL + k;  // 2 s + k us either way
    put_block(file, 6, enhanced_packet(raw, stamp, raw ? ip_packet(tcp) : ethernet(ip_packet(tcp), false)));
  }
  const std::string path = write_temp("mixed.pcapng", file);
  EXPECT_EQ(pcapng_link_types(path), std::vector<int>({DLT_EN10MB, 101}));
  const InspectReport report = inspect_file(path);
  ASSERT_EQ(report.flows.size(), 1u);
  EXPECT_EQ(client_side(report).tcp.stream_bytes, stream.size());
  EXPECT_EQ(client_side(report).frames.frames, 4u);
  const SourceStream s = capture_stream(capture_scenario(path, "kafka"));
  EXPECT_EQ(s.bytes, stream);
  ASSERT_EQ(s.segments.size(), 4u);
  EXPECT_EQ(s.segments[3].time_ns, 3000);  // 3 us after the first, across both resolutions

  InspectOptions filtered;
  filtered.path = path;
  filtered.filter = "tcp";
  EXPECT_EQ(inspect_capture(filtered).counts.filtered_out, 0u);
  std::vector<uint8_t> truncated(file.begin(), file.end() - 10);
  EXPECT_THROW(inspect_file(write_temp("mixed-truncated.pcapng", truncated)), InputError);
}

TEST(CaptureFlowIndex, FindsEveryFlowAcrossGrowthAndTakesReassignment) {
  // Keys that differ in one byte of the address, one of the port, or only in family,
  // enough of them for the index to grow several times.
  auto endpoint = [](uint8_t family, uint32_t n) {
    Endpoint e;
    e.family = family;
    e.address[0] = 10;
    e.address[family == 4 ? 3 : 15] = uint8_t(n);
    e.port = uint16_t(1000 + (n >> 8));
    return e;
  };
  Endpoint server;
  server.family = 4;
  server.port = 80;
  std::vector<FlowKey> keys;
  for (uint32_t n = 0; n < 1500; ++n) keys.push_back(FlowKey::of(endpoint(n % 2 ? 6 : 4, n), server));
  std::vector<Flow> flows(keys.size() + 1);
  FlowIndex index;
  for (size_t i = 0; i < keys.size(); ++i) {
    Flow*& slot = index[keys[i]];
    EXPECT_EQ(slot, nullptr);
    slot = &flows[i];
  }
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(index[keys[i]], &flows[i]) << i;
  index[keys[7]] = &flows.back();  // a new connection on a closed one's endpoints
  EXPECT_EQ(index[keys[7]], &flows.back());
  EXPECT_EQ(index[keys[8]], &flows[8]);
  EXPECT_EQ(index[FlowKey::of(endpoint(4, 1), server)], nullptr);  // 1 was an IPv6 key
}
