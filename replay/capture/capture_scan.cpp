#include "capture/capture_scan.hpp"

#include <fmt/format.h>

#include "common/errors.hpp"

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
    case DecodeStatus::UnsupportedLink: {
      ++unsupported_link;
      UndecodedLink& link = undecoded_links_[packet.linktype];
      if (link.packets++ == 0) link.first_packet = packet.number;
      return;
    }
  }
  if (warnings.size() < kMaxWarnings) warnings.push_back(fmt::format("packet {}: {}", packet.number, warning));
}

void DecodeCounts::close(const CaptureReader& reader) {
  packets = reader.packets_read();
  filtered_out = reader.filtered_out();
  caplen_above_wire = reader.caplen_above_wire();
  std::vector<std::string> links;
  for (const auto& [linktype, link] : undecoded_links_) {
    links.push_back(fmt::format("{} is not decoded ({} packets, the first is packet {})", link_type_name(linktype),
                                link.packets, link.first_packet));
    warnings.insert(warnings.begin(), links.back());
  }
  if (unsupported_link && unsupported_link == packets - filtered_out)
    throw InputError(fmt::format("{}: no packet could be read: {}", reader.path(), fmt::join(links, "; ")));
}

}  // namespace rcvq
