#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace rcvq::tap {

using MacAddress = std::array<uint8_t, 6>;

// IPv4 (first 4 bytes used) or IPv6 address in network byte order.
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};

  static IpAddress parse(const std::string& text);  // throws RunError
  std::string text() const;
  std::span<const uint8_t> span() const { return {bytes.data(), size_t(v6 ? 16 : 4)}; }
  bool operator==(const IpAddress&) const = default;
};

// RFC 1071 one's-complement sum, accumulated over pieces. Every piece but the last must
// have an even length (headers do); the sum is over the bytes as they lie in memory,
// so the folded result is stored as is, without byte swapping.
class Checksum {
 public:
  void add(std::span<const uint8_t> bytes);
  uint16_t fold() const;  // the value to store in the header

 private:
  uint64_t sum_ = 0;
};

namespace tcp_flag {
inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;
}

struct TcpHeaderFields {
  uint16_t src_port = 0, dst_port = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  std::span<const uint8_t> options;  // length a multiple of 4
};

// Addresses of the two ends on the TAP link: "local" is the userspace peer.
struct LinkEnds {
  MacAddress local_mac{}, remote_mac{};
  IpAddress local_ip, remote_ip;
};

inline constexpr size_t kEthernetHeader = 14;
inline constexpr size_t kMaxHeaders = kEthernetHeader + 40 + 60;

// Writes Ethernet + IP + TCP headers for `payload` into `out` (at least kMaxHeaders
// bytes) with both checksums filled in; returns the header length. The payload is not
// copied, so it can go out as its own iovec (header/data split).
size_t build_tcp_headers(uint8_t* out, const LinkEnds& ends, const TcpHeaderFields& tcp,
                         std::span<const uint8_t> payload, uint16_t ip_id);

// The headers of the segments one connection sends without options, built once
// together with the checksum sums of their fixed fields (addresses, ports, window).
// Each segment then writes only what changes (sequence and acknowledgment numbers,
// flags, lengths, IPv4 ID) and adds just those words to the sums, instead of building
// and summing every header byte again. The bytes are those of build_tcp_headers.
class TcpHeaderTemplate {
 public:
  TcpHeaderTemplate(const LinkEnds& ends, uint16_t src_port, uint16_t dst_port, uint16_t window);
  // Writes the headers for `payload` into `out` (at least size() bytes), both checksums
  // filled in; returns size(). The payload is not copied.
  size_t build(uint8_t* out, uint32_t seq, uint32_t ack, uint8_t flags, std::span<const uint8_t> payload,
               uint16_t ip_id) const;
  size_t size() const { return size_; }

 private:
  std::array<uint8_t, kEthernetHeader + 40 + 20> headers_{};
  size_t size_ = 0;
  bool v6_ = false;
  Checksum ip_fixed_, tcp_fixed_;  // IPv4 header; TCP pseudo-header and header
};

// SYN options: MSS, window scale, SACK permitted (no timestamps, so data segments need
// no options at all).
std::vector<uint8_t> syn_options(uint16_t mss, uint8_t window_shift);

std::vector<uint8_t> build_arp_reply(const LinkEnds& ends, const MacAddress& asker_mac,
                                     std::span<const uint8_t, 4> asker_ip);
std::vector<uint8_t> build_neighbor_advert(const LinkEnds& ends, const MacAddress& asker_mac,
                                           const IpAddress& asker_ip);

// What the receiver's stack transmitted on the TAP, reduced to what the peer acts on.
struct ReceivedFrame {
  enum class Kind { Other, ArpRequest, NeighborSolicit, Tcp } kind = Kind::Other;
  MacAddress src_mac{};
  IpAddress src_ip, target_ip;  // target: ARP/ND target address, TCP: destination
  // TCP
  uint16_t src_port = 0, dst_port = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  uint32_t payload_length = 0;
  uint16_t mss = 0;            // SYN option, 0 when absent
  int window_shift = -1;       // SYN option, -1 when absent
  bool sack_permitted = false;
  bool checksum_ok = false;    // TCP checksum verified
};

ReceivedFrame parse_frame(std::span<const uint8_t> frame);

}  // namespace rcvq::tap
