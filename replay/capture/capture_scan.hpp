#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "capture/decode.hpp"
#include "capture/pcap_reader.hpp"

namespace rcvq {

// What the packet loop saw besides TCP, with the first few problems by packet number.
struct DecodeCounts {
  int linktype = 0;
  uint64_t packets = 0;       // records read, including filtered-out ones
  uint64_t filtered_out = 0;
  uint64_t tcp = 0, not_ip = 0, not_tcp = 0, fragments = 0, truncated = 0, malformed = 0;
  uint64_t unsupported_link = 0, caplen_above_wire = 0;
  std::vector<std::string> warnings;  // at most kMaxWarnings, each naming the packet

  void note(const CapturedPacket& packet, DecodeResult result);
  // Takes the reader's totals and sums up each undecoded link type in one warning.
  // Throws InputError naming the file when no packet was of a link type it decodes.
  void close(const CaptureReader& reader);

 private:
  struct UndecodedLink {
    uint64_t packets = 0, first_packet = 0;
  };
  std::map<int, UndecodedLink> undecoded_links_;  // by link type
};

inline constexpr size_t kMaxWarnings = 20;

// The decoded TCP segments of `path` that pass `filter`, one at a time, with the
// packet loop's counts. Throws InputError naming the file and packet.
class TcpSegmentReader {
 public:
  TcpSegmentReader(const std::string& path, const std::string& filter) : reader_(path, filter) {
    counts_.linktype = reader_.linktype();
  }
  // The next TCP segment and the packet it came in (valid until the next call); false
  // at the end of the file, when the counts are final.
  bool next(TcpSegment& segment, const CapturedPacket*& packet) {
    while (reader_.next(packet_)) {
      const DecodeResult result = decode_packet(packet_.linktype, packet_.data, packet_.caplen, segment);
      if (result.status == DecodeStatus::Tcp) {
        ++counts_.tcp;
        packet = &packet_;
        return true;
      }
      counts_.note(packet_, result);
    }
    if (!closed_) counts_.close(reader_);
    closed_ = true;
    return false;
  }
  const DecodeCounts& counts() const { return counts_; }

 private:
  CaptureReader reader_;
  CapturedPacket packet_;
  DecodeCounts counts_;
  bool closed_ = false;
};

// Hands each decoded TCP segment of `path` that passes `filter` to
// `on_tcp(segment, packet)`. Throws InputError naming the file and packet.
template <typename OnTcp>
DecodeCounts for_each_tcp_segment(const std::string& path, const std::string& filter, OnTcp&& on_tcp) {
  TcpSegmentReader reader(path, filter);
  TcpSegment segment;
  const CapturedPacket* packet = nullptr;
  while (reader.next(segment, packet)) on_tcp(segment, *packet);
  return reader.counts();
}

}  // namespace rcvq
