#pragma once
// Builds small pcap files byte by byte, so tests control every header field (caplen
// above len, truncated records, VLAN stacks, IPv6 extension headers, ...).
#include <arpa/inet.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "framing/framing.hpp"
#include "scenario/scenario.hpp"

namespace capture_test {

using Bytes = std::vector<uint8_t>;

inline void put16(Bytes& b, uint16_t v) { b.push_back(uint8_t(v >> 8)); b.push_back(uint8_t(v)); }
inline void put32(Bytes& b, uint32_t v) { put16(b, uint16_t(v >> 16)); put16(b, uint16_t(v)); }
inline void put32le(Bytes& b, uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i))); }

struct Tcp {
  std::string src = "10.0.0.1", dst = "10.0.0.2";
  uint16_t sport = 40000, dport = 9000;
  uint32_t seq = 1000;
  uint8_t flags = 0x18;  // PSH|ACK
  Bytes payload;
  bool ipv6 = false;
  bool ipv6_extension = false;  // a hop-by-hop options header before TCP
  uint16_t ipv4_fragment = 0;   // flags+offset field
  uint8_t protocol = 6;
};

inline Bytes ip_packet(const Tcp& t) {
  Bytes tcp;
  put16(tcp, t.sport);
  put16(tcp, t.dport);
  put32(tcp, t.seq);
  put32(tcp, 0);
  tcp.push_back(5 << 4);
  tcp.push_back(t.flags);
  put16(tcp, 65535);
  put32(tcp, 0);  // checksum + urgent: nobody checks
  tcp.insert(tcp.end(), t.payload.begin(), t.payload.end());
  Bytes ip;
  if (!t.ipv6) {
    ip.push_back(0x45);
    ip.push_back(0);
    put16(ip, uint16_t(20 + tcp.size()));
    put16(ip, 1);
    put16(ip, t.ipv4_fragment);
    ip.push_back(64);
    ip.push_back(t.protocol);
    put16(ip, 0);
    in_addr a{}, b{};
    inet_pton(AF_INET, t.src.c_str(), &a);
    inet_pton(AF_INET, t.dst.c_str(), &b);
    const uint8_t* pa = reinterpret_cast<const uint8_t*>(&a);
    const uint8_t* pb = reinterpret_cast<const uint8_t*>(&b);
    ip.insert(ip.end(), pa, pa + 4);
    ip.insert(ip.end(), pb, pb + 4);
  } else {
    Bytes extension;
    if (t.ipv6_extension) extension = {uint8_t(t.protocol), 0, 1, 4, 0, 0, 0, 0};  // PadN option
    put32(ip, 0x60000000);
    put16(ip, uint16_t(extension.size() + tcp.size()));
    ip.push_back(t.ipv6_extension ? 0 : t.protocol);
    ip.push_back(64);
    in6_addr a{}, b{};
    inet_pton(AF_INET6, t.src.c_str(), &a);
    inet_pton(AF_INET6, t.dst.c_str(), &b);
    ip.insert(ip.end(), a.s6_addr, a.s6_addr + 16);
    ip.insert(ip.end(), b.s6_addr, b.s6_addr + 16);
    ip.insert(ip.end(), extension.begin(), extension.end());
  }
  ip.insert(ip.end(), tcp.begin(), tcp.end());
  return ip;
}

// Link-layer framings of an IP packet, by pcap link type.
inline Bytes ethernet(const Bytes& ip, bool ipv6, std::vector<uint16_t> vlan_tpids = {}) {
  Bytes f = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
  for (uint16_t tpid : vlan_tpids) {
    put16(f, tpid);
    put16(f, 100);
  }
  put16(f, ipv6 ? 0x86dd : 0x0800);
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

inline Bytes linux_sll(const Bytes& ip, bool ipv6) {
  Bytes f;
  put16(f, 0);
  put16(f, 1);
  put16(f, 6);
  for (int i = 0; i < 8; ++i) f.push_back(0);
  put16(f, ipv6 ? 0x86dd : 0x0800);
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

inline Bytes linux_sll2(const Bytes& ip, bool ipv6) {
  Bytes f;
  put16(f, ipv6 ? 0x86dd : 0x0800);
  put16(f, 0);
  put32(f, 1);
  put16(f, 1);
  f.push_back(0);
  f.push_back(6);
  for (int i = 0; i < 8; ++i) f.push_back(0);
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

// FDDI: frame control (async LLC, 48-bit addresses), destination, source, then
// 802.2 LLC/SNAP carrying the ethertype.
inline Bytes fddi(const Bytes& ip, bool ipv6) {
  Bytes f = {0x50, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0xaa, 0xaa, 0x03, 0, 0, 0};
  put16(f, ipv6 ? 0x86dd : 0x0800);
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

inline Bytes bsd_null(const Bytes& ip, bool ipv6) {
  Bytes f;
  put32le(f, ipv6 ? 30 : 2);
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

struct Record {
  Bytes data;
  uint32_t caplen = UINT32_MAX;  // default: all of data
  uint32_t wire_length = UINT32_MAX;  // default: data size
  int64_t time_ns = 0;
};

// A classic little-endian pcap; `nanosecond` picks the a1b23c4d magic.
inline Bytes pcap_file(int linktype, const std::vector<Record>& records, bool nanosecond = false,
                       uint32_t snaplen = 262144) {
  Bytes f;
  put32le(f, nanosecond ? 0xa1b23c4d : 0xa1b2c3d4);
  f.push_back(2), f.push_back(0), f.push_back(4), f.push_back(0);
  put32le(f, 0);
  put32le(f, 0);
  put32le(f, snaplen);
  put32le(f, uint32_t(linktype));
  for (const Record& r : records) {
    const uint32_t caplen = r.caplen == UINT32_MAX ? uint32_t(r.data.size()) : r.caplen;
    const int64_t sub = nanosecond ? r.time_ns % 1'000'000'000 : (r.time_ns % 1'000'000'000) / 1000;
    put32le(f, uint32_t(r.time_ns / 1'000'000'000));
    put32le(f, uint32_t(sub));
    put32le(f, caplen);
    put32le(f, r.wire_length == UINT32_MAX ? uint32_t(r.data.size()) : r.wire_length);
    f.insert(f.end(), r.data.begin(), r.data.begin() + std::min<size_t>(caplen, r.data.size()));
  }
  return f;
}

inline std::string write_temp(const std::string& name, const Bytes& bytes) {
  const std::string path = "/tmp/rcvq-capture-test-" + std::to_string(getpid()) + "-" + name;
  FILE* out = std::fopen(path.c_str(), "wb");
  std::fwrite(bytes.data(), 1, bytes.size(), out);
  std::fclose(out);
  return path;
}

// `count` frames of a 4-byte big-endian length prefix + body of `body` bytes (kafka).
inline Bytes kafka_frames(size_t count, size_t body, uint8_t fill = 0x41) {
  Bytes b;
  for (size_t i = 0; i < count; ++i) {
    put32(b, uint32_t(body));
    for (size_t k = 0; k < body; ++k) b.push_back(uint8_t(fill + i + k));
  }
  return b;
}

// Client 10.0.0.1:40000 -> server 10.0.0.2:9000; the handshake, then data segments
// cut from `stream` at the given (offset, length) pieces, in the given order.
struct Piece {
  size_t offset, length;
  Bytes override_bytes = {};  // send these instead of the stream's bytes
};

inline std::vector<Record> conversation(const Bytes& stream, const std::vector<Piece>& pieces, bool handshake = true,
                                 uint32_t isn = 1000) {
  std::vector<Record> records;
  int64_t t = 1'000'000'000;
  auto add = [&](Tcp tcp, bool from_client) {
    if (!from_client) {
      std::swap(tcp.src, tcp.dst);
      std::swap(tcp.sport, tcp.dport);
    }
    records.push_back({ethernet(ip_packet(tcp), false), UINT32_MAX, UINT32_MAX, t});
    t += 1500;
  };
  if (handshake) {
    add(Tcp{.seq = isn, .flags = 0x02}, true);
    add(Tcp{.seq = 7000, .flags = 0x12}, false);
    add(Tcp{.seq = isn + 1, .flags = 0x10}, true);
  }
  for (const Piece& p : pieces) {
    Tcp tcp{.seq = uint32_t(isn + 1 + p.offset)};
    tcp.payload = p.override_bytes.empty() ? Bytes(stream.begin() + p.offset, stream.begin() + p.offset + p.length)
                                           : p.override_bytes;
    add(tcp, true);
  }
  return records;
}

inline rcvq::Scenario capture_scenario(const std::string& path, const std::string& framing,
                                      rcvq::CaptureSource::OnGap on_gap = rcvq::CaptureSource::OnGap::Stop) {
  rcvq::Scenario sc;
  sc.path = path;
  sc.source.kind = rcvq::Source::Kind::Capture;
  sc.source.capture.path = path;
  sc.source.capture.direction = rcvq::FlowDirection::ClientToServer;
  sc.source.capture.on_gap = on_gap;
  sc.framing = rcvq::framing_preset(framing);
  return sc;
}

}  // namespace capture_test
