#include "capture/decode.hpp"

#include <fmt/format.h>
#include <pcap/dlt.h>

namespace rcvq {
namespace {

uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

constexpr uint16_t kEtherIpv4 = 0x0800, kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100, kEtherQinQ = 0x88a8, kEtherQinQOld = 0x9100;
constexpr uint8_t kProtoTcp = 6;

DecodeResult decode_tcp(const uint8_t* p, uint32_t available, uint32_t ip_payload_length, TcpSegment& out) {
  if (available < 20) return {DecodeStatus::Truncated, "TCP header cut short by the snapshot length"};
  const uint32_t header = uint32_t(p[12] >> 4) * 4;
  if (header < 20) return {DecodeStatus::Malformed, "TCP data offset below 5 words"};
  if (header > ip_payload_length) return {DecodeStatus::Malformed, "TCP header longer than the IP payload"};
  if (available < header) return {DecodeStatus::Truncated, "TCP options cut short by the snapshot length"};
  out.source.port = be16(p);
  out.destination.port = be16(p + 2);
  out.seq = be32(p + 4);
  out.flags = p[13];
  out.payload = p + header;
  out.payload_length = ip_payload_length - header;
  out.captured_payload = std::min(out.payload_length, available - header);
  return {DecodeStatus::Tcp};
}

DecodeResult decode_ipv4(const uint8_t* p, uint32_t available, TcpSegment& out) {
  if (available < 20) return {DecodeStatus::Truncated, "IPv4 header cut short by the snapshot length"};
  if (p[0] >> 4 != 4) return {DecodeStatus::Malformed, "IP version is not 4"};
  const uint32_t header = uint32_t(p[0] & 0x0f) * 4;
  const uint32_t total = be16(p + 2);
  if (header < 20 || total < header) return {DecodeStatus::Malformed, "IPv4 header or total length out of range"};
  if (available < header) return {DecodeStatus::Truncated, "IPv4 options cut short by the snapshot length"};
  const uint16_t fragment = be16(p + 6);
  if ((fragment & 0x2000) || (fragment & 0x1fff)) return {DecodeStatus::Fragment};
  if (p[9] != kProtoTcp) return {DecodeStatus::NotTcp};
  out.source.family = out.destination.family = 4;
  // `out` is reused from packet to packet: an IPv6 packet before this one left its
  // addresses in the 12 bytes IPv4 does not use, and endpoints compare all 16.
  out.source.address = {};
  out.destination.address = {};
  std::copy(p + 12, p + 16, out.source.address.begin());
  std::copy(p + 16, p + 20, out.destination.address.begin());
  // Captured bytes past the IP total length are link-layer padding.
  return decode_tcp(p + header, std::min(available, total) - header, total - header, out);
}

DecodeResult decode_ipv6(const uint8_t* p, uint32_t available, TcpSegment& out) {
  if (available < 40) return {DecodeStatus::Truncated, "IPv6 header cut short by the snapshot length"};
  if (p[0] >> 4 != 6) return {DecodeStatus::Malformed, "IP version is not 6"};
  uint32_t payload = be16(p + 4);
  // A zero payload length means a jumbogram: take what was captured.
  if (payload == 0) payload = available - 40;
  out.source.family = out.destination.family = 6;
  std::copy(p + 8, p + 24, out.source.address.begin());
  std::copy(p + 24, p + 40, out.destination.address.begin());
  uint8_t next = p[6];
  uint32_t at = 40;
  const uint32_t end = 40 + payload;
  for (int hops = 0; hops < 16; ++hops) {
    switch (next) {
      case kProtoTcp: {
        const uint32_t captured_end = std::min(available, end);
        if (at > captured_end) return {DecodeStatus::Truncated, "IPv6 extension headers cut short"};
        return decode_tcp(p + at, captured_end - at, end - at, out);
      }
      case 0:    // hop-by-hop options
      case 43:   // routing
      case 60:   // destination options
      case 51: {  // authentication header: length in 4-byte units minus 2
        if (at + 2 > available) return {DecodeStatus::Truncated, "IPv6 extension header cut short"};
        const uint32_t length = next == 51 ? (uint32_t(p[at + 1]) + 2) * 4 : (uint32_t(p[at + 1]) + 1) * 8;
        next = p[at];
        at += length;
        if (at > end) return {DecodeStatus::Malformed, "IPv6 extension headers longer than the payload"};
        break;
      }
      case 44:
        return {DecodeStatus::Fragment};
      default:
        return {DecodeStatus::NotTcp};
    }
  }
  return {DecodeStatus::Malformed, "more than 16 IPv6 extension headers"};
}

DecodeResult decode_ip(uint16_t ethertype, const uint8_t* p, uint32_t available, TcpSegment& out) {
  if (ethertype == kEtherIpv4) return decode_ipv4(p, available, out);
  if (ethertype == kEtherIpv6) return decode_ipv6(p, available, out);
  return {DecodeStatus::NotIp};
}

DecodeResult decode_raw_ip(const uint8_t* p, uint32_t available, TcpSegment& out) {
  if (available < 1) return {DecodeStatus::Truncated, "empty packet"};
  switch (p[0] >> 4) {
    case 4: return decode_ipv4(p, available, out);
    case 6: return decode_ipv6(p, available, out);
    default: return {DecodeStatus::Malformed, "raw IP packet with an IP version other than 4 or 6"};
  }
}

// BSD loopback: the address family in the byte order of the capturing host (NULL) or
// big endian (LOOP). AF_INET is 2 everywhere; AF_INET6 is 10, 24, 28 or 30.
DecodeResult decode_bsd_loopback(const uint8_t* p, uint32_t available, TcpSegment& out) {
  if (available < 4) return {DecodeStatus::Truncated, "loopback header cut short"};
  const uint32_t big = be32(p), little = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
  const uint32_t family = big < 256 ? big : little;
  if (family == 2) return decode_ipv4(p + 4, available - 4, out);
  if (family == 10 || family == 24 || family == 28 || family == 30) return decode_ipv6(p + 4, available - 4, out);
  return {DecodeStatus::NotIp};
}

// FDDI: frame control, 6-byte destination and source, then 802.2 LLC. IP rides in
// SNAP (AA AA 03, a 3-byte OUI, the ethertype); other LLC and the ring's own MAC and
// SMT frames carry no IP.
DecodeResult decode_fddi(const uint8_t* p, uint32_t available, TcpSegment& out) {
  constexpr uint32_t kMacHeader = 13, kSnapHeader = 8;
  if (available < 1) return {DecodeStatus::Truncated, "FDDI header cut short"};
  const uint8_t frame_control = p[0];
  if ((frame_control & 0x30) != 0x10) return {DecodeStatus::NotIp};  // not an LLC frame
  if (!(frame_control & 0x40)) return {DecodeStatus::Malformed, "FDDI frame with 16-bit addresses is not decoded"};
  if (available < kMacHeader + kSnapHeader) return {DecodeStatus::Truncated, "FDDI LLC/SNAP header cut short"};
  const uint8_t* llc = p + kMacHeader;
  if (llc[0] != 0xaa || llc[1] != 0xaa || llc[2] != 0x03) return {DecodeStatus::NotIp};
  return decode_ip(be16(llc + 6), llc + kSnapHeader, available - kMacHeader - kSnapHeader, out);
}

}  // namespace

std::string Endpoint::to_string() const {
  if (family == 4)
    return fmt::format("{}.{}.{}.{}:{}", address[0], address[1], address[2], address[3], port);
  // RFC 5952 short form: the longest run of zero groups becomes "::".
  uint16_t groups[8];
  for (int i = 0; i < 8; ++i) groups[i] = be16(address.data() + 2 * i);
  int best = -1, best_length = 1;
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && groups[j] == 0) ++j;
    if (j - i > best_length) best = i, best_length = j - i;
    i = j == i ? i + 1 : j;
  }
  std::string text;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      text += "::";
      i += best_length - 1;
      continue;
    }
    if (!text.empty() && text.back() != ':') text += ':';
    text += fmt::format("{:x}", groups[i]);
  }
  return fmt::format("[{}]:{}", text, port);
}

DecodeResult decode_packet(int linktype, const uint8_t* data, uint32_t caplen, TcpSegment& out) {
  switch (linktype) {
    case DLT_EN10MB: {
      if (caplen < 14) return {DecodeStatus::Truncated, "Ethernet header cut short"};
      uint32_t at = 12;
      uint16_t ethertype = be16(data + at);
      // Up to a few stacked VLAN tags (802.1Q inside 802.1ad).
      for (int tags = 0; tags < 4 && (ethertype == kEtherVlan || ethertype == kEtherQinQ ||
                                      ethertype == kEtherQinQOld); ++tags) {
        at += 4;
        if (at + 2 > caplen) return {DecodeStatus::Truncated, "VLAN tag cut short"};
        ethertype = be16(data + at);
      }
      at += 2;
      return decode_ip(ethertype, data + at, caplen - at, out);
    }
    case DLT_LINUX_SLL:
      if (caplen < 16) return {DecodeStatus::Truncated, "Linux SLL header cut short"};
      return decode_ip(be16(data + 14), data + 16, caplen - 16, out);
    case DLT_LINUX_SLL2:
      if (caplen < 20) return {DecodeStatus::Truncated, "Linux SLL2 header cut short"};
      return decode_ip(be16(data), data + 20, caplen - 20, out);
    case DLT_RAW:
    case 14:   // DLT_RAW on OpenBSD
    case 101:  // LINKTYPE_RAW, should libpcap hand it through unmapped
      return decode_raw_ip(data, caplen, out);
    case DLT_IPV4:
      return decode_ipv4(data, caplen, out);
    case DLT_IPV6:
      return decode_ipv6(data, caplen, out);
    case DLT_NULL:
    case DLT_LOOP:
      return decode_bsd_loopback(data, caplen, out);
    case DLT_FDDI:
      return decode_fddi(data, caplen, out);
    default:
      return {DecodeStatus::UnsupportedLink, "unsupported link type"};
  }
}

std::string link_type_name(int linktype) {
  switch (linktype) {
    case DLT_EN10MB: return "Ethernet";
    case DLT_LINUX_SLL: return "Linux SLL";
    case DLT_LINUX_SLL2: return "Linux SLL2";
    case DLT_RAW: case 14: case 101: return "raw IP";
    case DLT_IPV4: return "raw IPv4";
    case DLT_IPV6: return "raw IPv6";
    case DLT_NULL: return "BSD loopback";
    case DLT_LOOP: return "OpenBSD loopback";
    case DLT_FDDI: return "FDDI";
    default: return fmt::format("link type {}", linktype);
  }
}

}  // namespace rcvq
