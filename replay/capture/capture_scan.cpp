#include "capture/capture_scan.hpp"

#include <fmt/format.h>

namespace rcvq {

void DecodeCounts::note(const CapturedPacket& packet, DecodeResult result) {
  std::string warning;
  switch (result.status) {
    case DecodeStatus::Tcp: return;
    case DecodeStatus::NotIp: ++not_ip; return;
    case DecodeStatus::NotTcp: ++not_tcp; return;
    case DecodeStatus::Fragment:
      ++fragments;
      warning = "IP fragment: not reassembled, its TCP bytes will be missing from the stream";
      break;
    case DecodeStatus::Truncated:
      ++truncated;
      warning = result.detail;
      break;
    case DecodeStatus::Malformed:
      ++malformed;
      warning = result.detail;
      break;
    case DecodeStatus::UnsupportedLink:
      ++unsupported_link;
      warning = fmt::format("{} is not decoded", link_type_name(packet.linktype));
      break;
  }
  if (warnings.size() < kMaxWarnings) warnings.push_back(fmt::format("packet {}: {}", packet.number, warning));
}

void DecodeCounts::close(const CaptureReader& reader) {
  packets = reader.packets_read();
  filtered_out = reader.filtered_out();
  caplen_above_wire = reader.caplen_above_wire();
}

}  // namespace rcvq
