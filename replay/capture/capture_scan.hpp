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

// Reads every packet of `path` that passes `filter` and hands each decoded TCP segment
// to `on_tcp(segment, packet)`. Throws InputError naming the file and packet.
template <typename OnTcp>
DecodeCounts for_each_tcp_segment(const std::string& path, const std::string& filter, OnTcp&& on_tcp) {
  CaptureReader reader(path, filter);
  DecodeCounts counts;
  counts.linktype = reader.linktype();
  CapturedPacket packet;
  TcpSegment segment;
  while (reader.next(packet)) {
    const DecodeResult result = decode_packet(packet.linktype, packet.data, packet.caplen, segment);
    if (result.status == DecodeStatus::Tcp) {
      ++counts.tcp;
      on_tcp(segment, packet);
    } else {
      counts.note(packet, result);
    }
  }
  counts.close(reader);
  return counts;
}

}  // namespace rcvq
