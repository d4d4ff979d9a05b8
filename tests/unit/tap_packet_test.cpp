// The userspace TCP peer's building blocks: checksums, frames, option parsing, window.
#include <gtest/gtest.h>

#include <cstring>

#include "transport/tap/packet.hpp"
#include "transport/tap/tcp_window.hpp"

namespace rcvq::tap {
namespace {

LinkEnds ends(bool v6) {
  LinkEnds e;
  e.local_mac = {0x02, 0, 0, 0, 0, 1};
  e.remote_mac = {0x02, 0, 0, 0, 0, 2};
  e.local_ip = IpAddress::parse(v6 ? "2001:2::1" : "198.18.0.1");
  e.remote_ip = IpAddress::parse(v6 ? "2001:2::2" : "198.18.0.2");
  return e;
}

TEST(TapChecksum, MatchesRfc1071Example) {
  // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to 0xddf2 (folded), so the
  // checksum stored on the wire is ~0xddf2 = 0x220d.
  const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  Checksum c;
  c.add(data);
  const uint16_t v = c.fold();
  uint8_t wire[2];
  std::memcpy(wire, &v, 2);
  EXPECT_EQ(wire[0], 0x22);
  EXPECT_EQ(wire[1], 0x0d);
}

TEST(TapChecksum, PiecesEqualWholeAndOddTailIsPadded) {
  std::vector<uint8_t> data(1001);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 37 + 11);
  Checksum whole, pieces;
  whole.add(data);
  pieces.add({data.data(), 2});
  pieces.add({data.data() + 2, 6});
  pieces.add({data.data() + 8, data.size() - 8});
  EXPECT_EQ(whole.fold(), pieces.fold());
  // An odd tail counts as if followed by a zero byte.
  std::vector<uint8_t> padded = data;
  padded.push_back(0);
  Checksum p;
  p.add(padded);
  EXPECT_EQ(whole.fold(), p.fold());
}

// The plain RFC 1071 loop: 16-bit words in memory order, carries folded as they come.
uint16_t reference_checksum(const std::vector<uint8_t>& data) {
  uint32_t sum = 0;
  for (size_t i = 0; i < data.size(); i += 2) {
    const uint8_t word_bytes[2] = {data[i], i + 1 < data.size() ? data[i + 1] : uint8_t(0)};
    uint16_t w;
    std::memcpy(&w, word_bytes, 2);
    sum += w;
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return uint16_t(~sum);
}

TEST(TapChecksum, MatchesWordByWordReferenceIncludingCarries) {
  // All-0xff bytes make every wide addition carry out; lengths cover each tail size.
  for (const uint8_t fill : {uint8_t(0xff), uint8_t(0x80), uint8_t(0x01)}) {
    for (size_t len : {0u, 1u, 2u, 3u, 7u, 8u, 9u, 15u, 63u, 64u, 65u, 95u, 1000u, 1460u, 9001u}) {
      std::vector<uint8_t> data(len, fill);
      for (size_t i = 0; i < len; i += 3) data[i] = uint8_t(data[i] ^ (i * 131));
      Checksum c;
      c.add(data);
      EXPECT_EQ(c.fold(), reference_checksum(data)) << "fill " << int(fill) << " length " << len;
    }
  }
}

class TapTcpFrame : public ::testing::TestWithParam<bool> {};

TEST_P(TapTcpFrame, BuildsFramesThatParseBackWithValidChecksums) {
  const bool v6 = GetParam();
  const LinkEnds e = ends(v6);
  std::vector<uint8_t> payload(777);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = uint8_t(i ^ 0x5a);
  const std::vector<uint8_t> options = syn_options(1460, 7);
  TcpHeaderFields h;
  h.src_port = 40001;
  h.dst_port = 5001;
  h.seq = 0xfffffff0;
  h.ack = 12345;
  h.flags = tcp_flag::kSyn;
  h.window = 65535;
  h.options = options;
  std::vector<uint8_t> frame(kMaxHeaders);
  const size_t hlen = build_tcp_headers(frame.data(), e, h, payload, 7);
  EXPECT_EQ(hlen, kEthernetHeader + (v6 ? 40u : 20u) + 20u + options.size());
  frame.resize(hlen);
  frame.insert(frame.end(), payload.begin(), payload.end());
  if (!v6) {
    Checksum ip;
    ip.add({frame.data() + kEthernetHeader, 20});
    EXPECT_EQ(ip.fold(), 0) << "IPv4 header checksum";
  }
  // The frame as the receiver would see it: parse it with the roles swapped.
  const ReceivedFrame f = parse_frame(frame);
  ASSERT_EQ(f.kind, ReceivedFrame::Kind::Tcp);
  EXPECT_TRUE(f.checksum_ok);
  EXPECT_EQ(f.src_port, 40001);
  EXPECT_EQ(f.dst_port, 5001);
  EXPECT_EQ(f.seq, 0xfffffff0u);
  EXPECT_EQ(f.ack, 12345u);
  EXPECT_EQ(f.flags, tcp_flag::kSyn);
  EXPECT_EQ(f.payload_length, 777u);
  EXPECT_EQ(f.mss, 1460);
  EXPECT_EQ(f.window_shift, 7);
  EXPECT_TRUE(f.sack_permitted);
  EXPECT_EQ(f.src_ip, e.local_ip);
  EXPECT_EQ(f.target_ip, e.remote_ip);
  frame[hlen + 100] ^= 1;
  EXPECT_FALSE(parse_frame(frame).checksum_ok) << "a flipped payload bit must fail the checksum";
}

TEST_P(TapTcpFrame, TemplateWritesTheBytesOfBuildTcpHeaders) {
  const LinkEnds e = ends(GetParam());
  const TcpHeaderTemplate headers(e, 40001, 5001, 65535);
  std::vector<uint8_t> payload(1461);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = uint8_t(i * 151 + 3);
  // Odd and even lengths, short of and past the 64 bytes where the checksum widens.
  for (const size_t len : {0u, 1u, 12u, 63u, 64u, 777u, 1000u, 1461u}) {
    for (const uint32_t seq : {0u, 0xfffffff0u, 123456789u}) {
      TcpHeaderFields h;
      h.src_port = 40001;
      h.dst_port = 5001;
      h.seq = seq;
      h.ack = ~seq;
      h.flags = uint8_t(len % 2 ? tcp_flag::kAck : tcp_flag::kAck | tcp_flag::kPsh);
      h.window = 65535;
      const std::span<const uint8_t> piece(payload.data(), len);
      const uint16_t ip_id = uint16_t(seq ^ len);
      std::vector<uint8_t> expected(kMaxHeaders), actual(kMaxHeaders, 0xee);
      const size_t hlen = build_tcp_headers(expected.data(), e, h, piece, ip_id);
      ASSERT_EQ(headers.build(actual.data(), h.seq, h.ack, h.flags, piece, ip_id), hlen);
      expected.resize(hlen);
      actual.resize(hlen);
      EXPECT_EQ(actual, expected) << "payload " << len << " seq " << seq;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ipv4AndIpv6, TapTcpFrame, ::testing::Values(false, true));

TEST(TapArp, ReplyAnswersTheAsker) {
  const LinkEnds e = ends(false);
  const MacAddress asker = {0x02, 9, 9, 9, 9, 9};
  const uint8_t asker_ip[4] = {198, 18, 0, 2};
  const std::vector<uint8_t> f = build_arp_reply(e, asker, std::span<const uint8_t, 4>(asker_ip, 4));
  ASSERT_EQ(f.size(), 42u);
  EXPECT_EQ(0, std::memcmp(f.data(), asker.data(), 6));
  EXPECT_EQ(f[12], 0x08);
  EXPECT_EQ(f[13], 0x06);
  EXPECT_EQ(f[21], 2) << "operation: reply";
  EXPECT_EQ(0, std::memcmp(f.data() + 22, e.local_mac.data(), 6));
  EXPECT_EQ(0, std::memcmp(f.data() + 28, e.local_ip.bytes.data(), 4));
  EXPECT_EQ(0, std::memcmp(f.data() + 38, asker_ip, 4));
  // An ARP request (operation 1) for our address is recognised.
  std::vector<uint8_t> req = f;
  req[21] = 1;
  std::memcpy(req.data() + 28, asker_ip, 4);
  std::memcpy(req.data() + 38, e.local_ip.bytes.data(), 4);
  const ReceivedFrame r = parse_frame(req);
  EXPECT_EQ(r.kind, ReceivedFrame::Kind::ArpRequest);
  EXPECT_EQ(r.target_ip, e.local_ip);
}

TEST(TapNeighborDiscovery, AdvertHasValidChecksumAndHopLimit255) {
  const LinkEnds e = ends(true);
  const MacAddress asker = {0x02, 9, 9, 9, 9, 9};
  const std::vector<uint8_t> f = build_neighbor_advert(e, asker, IpAddress::parse("2001:2::2"));
  ASSERT_EQ(f.size(), 14u + 40u + 32u);
  EXPECT_EQ(f[14 + 7], 255);
  EXPECT_EQ(f[14 + 40], 136);
  // Sum over pseudo-header + message folds to zero when the checksum is right.
  Checksum c;
  c.add({f.data() + 14 + 8, 32});  // source and destination addresses
  const uint8_t tail[8] = {0, 0, 0, 32, 0, 0, 0, 58};
  c.add(tail);
  c.add({f.data() + 14 + 40, 32});
  EXPECT_EQ(c.fold(), 0);
}

TEST(TapSendWindow, NeverAllowsPastTheRightEdgeAcrossWraparound) {
  SendWindow w;
  w.start(0xfffffff0u, 100);
  EXPECT_TRUE(w.fits(0xfffffff0u + 100));
  EXPECT_FALSE(w.fits(0xfffffff0u + 101));
  w.on_sent(0xfffffff0u + 100);
  EXPECT_EQ(w.in_flight(), 100u);
  EXPECT_TRUE(w.on_ack(0x00000010u, 200));  // 32 bytes acked, crossing zero
  EXPECT_EQ(w.una(), 0x10u);
  EXPECT_TRUE(w.fits(0x10u + 200));
  EXPECT_FALSE(w.fits(0x10u + 201));
  EXPECT_FALSE(w.on_ack(0xfffffff8u, 5000)) << "an older ACK must not move the window";
  EXPECT_EQ(w.right_edge(), 0x10u + 200);
  EXPECT_FALSE(w.on_ack(0x1000u, 5000)) << "an ACK for data never sent is ignored";
  EXPECT_EQ(w.una(), 0x10u);
  EXPECT_FALSE(w.on_ack(0x10u, 0)) << "a window update without new data";
  EXPECT_FALSE(w.fits(0x11u)) << "a zero window admits nothing";
}

}  // namespace
}  // namespace rcvq::tap
