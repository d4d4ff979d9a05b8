#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <string>

namespace rcvq {

// One side of a TCP connection. Addresses are kept in 16 bytes (IPv4 in the first 4).
struct Endpoint {
  uint8_t family = 0;  // 4 or 6
  std::array<uint8_t, 16> address{};
  uint16_t port = 0;

  auto operator<=>(const Endpoint&) const = default;
  // Flow lookup compares endpoints on every packet: ports first, as they nearly always
  // tell two endpoints apart, and the address with a memcmp the compiler inlines (the
  // defaulted comparison of std::array calls the library's).
  bool operator==(const Endpoint& other) const {
    return port == other.port && family == other.family &&
           std::memcmp(address.data(), other.address.data(), address.size()) == 0;
  }
  std::string to_string() const;  // "10.0.0.1:80", "[::1]:80"
};

// The TCP header fields and payload of one captured packet; payload points into the
// packet buffer and is valid until the next read.
struct TcpSegment {
  Endpoint source, destination;
  uint32_t seq = 0;
  uint8_t flags = 0;
  const uint8_t* payload = nullptr;
  uint32_t captured_payload = 0;  // bytes present in the capture
  uint32_t payload_length = 0;    // bytes on the wire per the IP length (tshark's tcp.len)
};

inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;

enum class DecodeStatus {
  Tcp,
  NotIp,          // ARP, LLDP, ... : skipped silently
  NotTcp,         // UDP, ICMP, ... : counted
  Fragment,       // IPv4/IPv6 fragment: reported, cannot be reassembled into the stream
  Truncated,      // the capture cut the IP or TCP header short
  Malformed,      // a header that contradicts itself
  UnsupportedLink,
};

struct DecodeResult {
  DecodeStatus status;
  const char* detail = "";  // why, for Truncated/Malformed/UnsupportedLink
};

// Decodes link layer (Ethernet with 802.1Q/802.1ad tags, Linux SLL/SLL2, raw IP, BSD
// NULL/LOOP, FDDI with LLC/SNAP), IPv4 or IPv6 (extension headers skipped) and TCP. `linktype` is the
// pcap DLT_* value.
DecodeResult decode_packet(int linktype, const uint8_t* data, uint32_t caplen, TcpSegment& out);

// "Ethernet", "Linux SLL", ... or "link type N".
std::string link_type_name(int linktype);

}  // namespace rcvq
