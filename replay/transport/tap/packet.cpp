#include "transport/tap/packet.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#ifdef __x86_64__
#include <immintrin.h>
#endif

#include <cstring>

#include "common/errors.hpp"

namespace rcvq::tap {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800, kEtherArp = 0x0806, kEtherIpv6 = 0x86dd;
constexpr uint8_t kProtoTcp = 6, kProtoIcmpv6 = 58;
constexpr uint8_t kNeighborSolicit = 135, kNeighborAdvert = 136;

void put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, uint16_t(v >> 16));
  put16(p + 2, uint16_t(v));
}
uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t(get16(p)) << 16 | get16(p + 2); }

void put_ethernet(uint8_t* p, const MacAddress& dst, const MacAddress& src, uint16_t type) {
  std::memcpy(p, dst.data(), 6);
  std::memcpy(p + 6, src.data(), 6);
  put16(p + 12, type);
}

// The part of the TCP/ICMPv6 checksum that covers the IP pseudo-header.
void add_pseudo_header(Checksum& sum, const IpAddress& src, const IpAddress& dst, uint8_t proto,
                       uint32_t length) {
  sum.add(src.span());
  sum.add(dst.span());
  uint8_t tail[8]{};
  if (src.v6) {
    put32(tail, length);
    tail[7] = proto;
    sum.add({tail, 8});
  } else {
    tail[1] = proto;
    put16(tail + 2, uint16_t(length));
    sum.add({tail, 4});
  }
}

}  // namespace

IpAddress IpAddress::parse(const std::string& text) {
  IpAddress a;
  if (inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) return a;
  a.v6 = true;
  if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) return a;
  throw RunError(fmt::format("'{}' is not an IP address", text));
}

std::string IpAddress::text() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

#ifdef __x86_64__
namespace {

// The 32-byte blocks of [p, p + n), summed with AVX2; advances p and n past them. Each
// 64-bit lane's two 32-bit halves are summed apart (2^32 is 1 modulo 0xffff, so the
// halves add up to the same checksum), so nothing carries out of 64 bits below 2^29
// blocks (16 GiB).
// Three times the rate of the scalar loop over a 1000-byte payload, which the tap peer
// sums for every segment it sends.
__attribute__((target("avx2"))) uint64_t sum_blocks_avx2(const uint8_t*& p, size_t& n) {
  __m256i low_halves = _mm256_setzero_si256(), high_halves = _mm256_setzero_si256();
  const __m256i low_mask = _mm256_set1_epi64x(0xffffffff);
  for (; n >= 32; p += 32, n -= 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    low_halves = _mm256_add_epi64(low_halves, _mm256_and_si256(v, low_mask));
    high_halves = _mm256_add_epi64(high_halves, _mm256_srli_epi64(v, 32));
  }
  uint64_t lanes[4];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(low_halves, high_halves));
  const uint64_t total = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  return (total & 0xffffffff) + (total >> 32);
}

// Below this the scalar loop is as fast, and headers never reach it.
constexpr size_t kAvx2MinBytes = 64;

}  // namespace
#endif

void Checksum::add(std::span<const uint8_t> bytes) {
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
#ifdef __x86_64__
  static const bool have_avx2 = __builtin_cpu_supports("avx2");
  if (n >= kAvx2MinBytes && have_avx2) sum_ += sum_blocks_avx2(p, n);
#endif
  // What is left (all of it without AVX2): 64-bit words with end-around carry (2^64 is
  // 1 modulo 0xffff, so each carry out counts 1), half the loads of 32-bit words.
  uint64_t words = 0, carries = 0;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    words += w;
    carries += words < w ? 1 : 0;
  }
  // Both halves of the 64-bit sum, as 2^32 is also 1 modulo 0xffff; the accumulator's
  // spare high bits take these and the smaller words below, folded once at the end.
  sum_ += (words & 0xffffffff) + (words >> 32) + carries;
  if (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    sum_ += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    sum_ += w;
    p += 2;
    n -= 2;
  }
  if (n) {
    const uint8_t last[2] = {*p, 0};
    uint16_t w;
    std::memcpy(&w, last, 2);
    sum_ += w;
  }
}

uint16_t Checksum::fold() const {
  uint64_t s = sum_;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}

size_t build_tcp_headers(uint8_t* out, const LinkEnds& ends, const TcpHeaderFields& tcp,
                         std::span<const uint8_t> payload, uint16_t ip_id) {
  const bool v6 = ends.local_ip.v6;
  const size_t ip_len = v6 ? 40 : 20;
  const size_t tcp_len = 20 + tcp.options.size();
  const uint32_t segment_len = uint32_t(tcp_len + payload.size());
  put_ethernet(out, ends.remote_mac, ends.local_mac, v6 ? kEtherIpv6 : kEtherIpv4);
  uint8_t* ip = out + kEthernetHeader;
  std::memset(ip, 0, ip_len);
  if (v6) {
    ip[0] = 0x60;
    put16(ip + 4, uint16_t(segment_len));
    ip[6] = kProtoTcp;
    ip[7] = 64;
    std::memcpy(ip + 8, ends.local_ip.bytes.data(), 16);
    std::memcpy(ip + 24, ends.remote_ip.bytes.data(), 16);
  } else {
    ip[0] = 0x45;
    put16(ip + 2, uint16_t(ip_len + segment_len));
    put16(ip + 4, ip_id);
    put16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = kProtoTcp;
    std::memcpy(ip + 12, ends.local_ip.bytes.data(), 4);
    std::memcpy(ip + 16, ends.remote_ip.bytes.data(), 4);
    Checksum ipsum;
    ipsum.add({ip, 20});
    const uint16_t c = ipsum.fold();
    std::memcpy(ip + 10, &c, 2);
  }
  uint8_t* th = ip + ip_len;
  put16(th, tcp.src_port);
  put16(th + 2, tcp.dst_port);
  put32(th + 4, tcp.seq);
  put32(th + 8, tcp.ack);
  th[12] = uint8_t((tcp_len / 4) << 4);
  th[13] = tcp.flags;
  put16(th + 14, tcp.window);
  put16(th + 16, 0);
  put16(th + 18, 0);
  if (!tcp.options.empty()) std::memcpy(th + 20, tcp.options.data(), tcp.options.size());
  Checksum sum;
  add_pseudo_header(sum, ends.local_ip, ends.remote_ip, kProtoTcp, segment_len);
  sum.add({th, tcp_len});
  sum.add(payload);
  const uint16_t c = sum.fold();
  std::memcpy(th + 16, &c, 2);
  return kEthernetHeader + ip_len + tcp_len;
}

TcpHeaderTemplate::TcpHeaderTemplate(const LinkEnds& ends, uint16_t src_port, uint16_t dst_port, uint16_t window)
    : v6_(ends.local_ip.v6) {
  TcpHeaderFields fixed;
  fixed.src_port = src_port;
  fixed.dst_port = dst_port;
  fixed.window = window;
  size_ = build_tcp_headers(headers_.data(), ends, fixed, {}, 0);
  uint8_t* ip = headers_.data() + kEthernetHeader;
  uint8_t* th = ip + (v6_ ? 40 : 20);
  // Zero what build() writes and sums per segment, so the fixed sums leave it out.
  if (v6_) {
    put16(ip + 4, 0);
  } else {
    std::memset(ip + 2, 0, 4);  // total length, ID
    put16(ip + 10, 0);          // header checksum
    ip_fixed_.add({ip, 20});
  }
  put16(th + 16, 0);  // TCP checksum
  add_pseudo_header(tcp_fixed_, ends.local_ip, ends.remote_ip, kProtoTcp, 0);
  tcp_fixed_.add({th, 4});       // ports
  tcp_fixed_.add({th + 14, 6});  // window, checksum (zero), urgent pointer
}

size_t TcpHeaderTemplate::build(uint8_t* out, uint32_t seq, uint32_t ack, uint8_t flags,
                                std::span<const uint8_t> payload, uint16_t ip_id) const {
  std::memcpy(out, headers_.data(), size_);
  uint8_t* ip = out + kEthernetHeader;
  uint8_t* th = ip + (v6_ ? 40 : 20);
  const uint32_t segment_len = uint32_t(20 + payload.size());
  if (v6_) {
    put16(ip + 4, uint16_t(segment_len));
  } else {
    put16(ip + 2, uint16_t(20 + segment_len));
    put16(ip + 4, ip_id);
    Checksum ipsum = ip_fixed_;
    ipsum.add({ip + 2, 4});
    const uint16_t c = ipsum.fold();
    std::memcpy(ip + 10, &c, 2);
  }
  put32(th + 4, seq);
  put32(th + 8, ack);
  th[13] = flags;
  Checksum sum = tcp_fixed_;
  uint8_t pseudo_length[2];
  put16(pseudo_length, uint16_t(segment_len));
  sum.add(pseudo_length);
  sum.add({th + 4, 10});  // sequence and acknowledgment numbers, data offset and flags
  sum.add(payload);
  const uint16_t c = sum.fold();
  std::memcpy(th + 16, &c, 2);
  return size_;
}

std::vector<uint8_t> syn_options(uint16_t mss, uint8_t window_shift) {
  std::vector<uint8_t> o = {2, 4, uint8_t(mss >> 8), uint8_t(mss), 1, 3, 3, window_shift, 1, 1, 4, 2};
  return o;
}

std::vector<uint8_t> build_arp_reply(const LinkEnds& ends, const MacAddress& asker_mac,
                                     std::span<const uint8_t, 4> asker_ip) {
  std::vector<uint8_t> f(kEthernetHeader + 28);
  put_ethernet(f.data(), asker_mac, ends.local_mac, kEtherArp);
  uint8_t* a = f.data() + kEthernetHeader;
  put16(a, 1);           // Ethernet
  put16(a + 2, kEtherIpv4);
  a[4] = 6;
  a[5] = 4;
  put16(a + 6, 2);       // reply
  std::memcpy(a + 8, ends.local_mac.data(), 6);
  std::memcpy(a + 14, ends.local_ip.bytes.data(), 4);
  std::memcpy(a + 18, asker_mac.data(), 6);
  std::memcpy(a + 24, asker_ip.data(), 4);
  return f;
}

std::vector<uint8_t> build_neighbor_advert(const LinkEnds& ends, const MacAddress& asker_mac,
                                           const IpAddress& asker_ip) {
  constexpr size_t kIcmpLen = 32;  // header, flags, target, target link-layer option
  std::vector<uint8_t> f(kEthernetHeader + 40 + kIcmpLen);
  put_ethernet(f.data(), asker_mac, ends.local_mac, kEtherIpv6);
  uint8_t* ip = f.data() + kEthernetHeader;
  ip[0] = 0x60;
  put16(ip + 4, kIcmpLen);
  ip[6] = kProtoIcmpv6;
  ip[7] = 255;  // ND messages with any other hop limit are discarded
  IpAddress dst = asker_ip;
  static const IpAddress all_nodes = IpAddress::parse("ff02::1");
  if (dst == IpAddress::parse("::")) dst = all_nodes;
  std::memcpy(ip + 8, ends.local_ip.bytes.data(), 16);
  std::memcpy(ip + 24, dst.bytes.data(), 16);
  uint8_t* icmp = ip + 40;
  icmp[0] = kNeighborAdvert;
  put32(icmp + 4, 0x60000000);  // solicited, override
  std::memcpy(icmp + 8, ends.local_ip.bytes.data(), 16);
  icmp[24] = 2;  // target link-layer address
  icmp[25] = 1;
  std::memcpy(icmp + 26, ends.local_mac.data(), 6);
  Checksum sum;
  add_pseudo_header(sum, ends.local_ip, dst, kProtoIcmpv6, kIcmpLen);
  sum.add({icmp, kIcmpLen});
  const uint16_t c = sum.fold();
  std::memcpy(icmp + 2, &c, 2);
  return f;
}

ReceivedFrame parse_frame(std::span<const uint8_t> frame) {
  ReceivedFrame r;
  if (frame.size() < kEthernetHeader) return r;
  const uint8_t* p = frame.data();
  std::memcpy(r.src_mac.data(), p + 6, 6);
  const uint16_t type = get16(p + 12);
  const uint8_t* l3 = p + kEthernetHeader;
  const size_t l3_len = frame.size() - kEthernetHeader;
  if (type == kEtherArp) {
    if (l3_len < 28 || get16(l3 + 6) != 1) return r;
    r.kind = ReceivedFrame::Kind::ArpRequest;
    std::memcpy(r.src_ip.bytes.data(), l3 + 14, 4);
    std::memcpy(r.target_ip.bytes.data(), l3 + 24, 4);
    return r;
  }
  const uint8_t* l4 = nullptr;
  size_t l4_len = 0;
  uint8_t proto = 0;
  if (type == kEtherIpv4) {
    if (l3_len < 20) return r;
    const size_t ihl = size_t(l3[0] & 0xf) * 4;
    const size_t total = get16(l3 + 2);
    if (ihl < 20 || total < ihl || total > l3_len) return r;
    proto = l3[9];
    std::memcpy(r.src_ip.bytes.data(), l3 + 12, 4);
    std::memcpy(r.target_ip.bytes.data(), l3 + 16, 4);
    l4 = l3 + ihl;
    l4_len = total - ihl;
  } else if (type == kEtherIpv6) {
    if (l3_len < 40) return r;
    const size_t payload = get16(l3 + 4);
    if (payload + 40 > l3_len) return r;
    proto = l3[6];
    r.src_ip.v6 = r.target_ip.v6 = true;
    std::memcpy(r.src_ip.bytes.data(), l3 + 8, 16);
    std::memcpy(r.target_ip.bytes.data(), l3 + 24, 16);
    l4 = l3 + 40;
    l4_len = payload;
  } else {
    return r;
  }
  if (proto == kProtoIcmpv6 && type == kEtherIpv6) {
    if (l4_len >= 24 && l4[0] == kNeighborSolicit) {
      r.kind = ReceivedFrame::Kind::NeighborSolicit;
      std::memcpy(r.target_ip.bytes.data(), l4 + 8, 16);
    }
    return r;
  }
  if (proto != kProtoTcp || l4_len < 20) return r;
  const size_t doff = size_t(l4[12] >> 4) * 4;
  if (doff < 20 || doff > l4_len) return r;
  r.kind = ReceivedFrame::Kind::Tcp;
  r.src_port = get16(l4);
  r.dst_port = get16(l4 + 2);
  r.seq = get32(l4 + 4);
  r.ack = get32(l4 + 8);
  r.flags = l4[13];
  r.window = get16(l4 + 14);
  r.payload_length = uint32_t(l4_len - doff);
  Checksum sum;
  add_pseudo_header(sum, r.src_ip, r.target_ip, kProtoTcp, uint32_t(l4_len));
  sum.add({l4, l4_len});
  // The sum over a segment including its own checksum folds to zero when intact.
  r.checksum_ok = sum.fold() == 0;
  for (size_t i = 20; i < doff;) {
    const uint8_t kind = l4[i];
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= doff || l4[i + 1] < 2 || i + l4[i + 1] > doff) break;
    const uint8_t len = l4[i + 1];
    if (kind == 2 && len == 4) r.mss = get16(l4 + i + 2);
    if (kind == 3 && len == 3) r.window_shift = l4[i + 2];
    if (kind == 4 && len == 2) r.sack_permitted = true;
    i += len;
  }
  return r;
}

}  // namespace rcvq::tap
