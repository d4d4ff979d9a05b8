#include "capture/pcap_reader.hpp"

#include <fmt/format.h>
#include <stdio_ext.h>

#include <algorithm>
#include <set>

#include "common/errors.hpp"
#include "common/input_file.hpp"

namespace rcvq {
namespace {

// pcapng (draft-ietf-opsawg-pcapng) block types and the byte-order magic.
constexpr uint32_t kSectionHeader = 0x0A0D0D0A, kInterfaceDescription = 1, kSimplePacket = 3,
                   kEnhancedPacket = 6, kByteOrderMagic = 0x1A2B3C4D;
constexpr uint32_t kMaxBlockBytes = 16u << 20;  // larger blocks mean a corrupt length

uint32_t load32(const uint8_t* p, bool swapped) {
  const uint32_t v = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
  return swapped ? __builtin_bswap32(v) : v;
}
uint16_t load16(const uint8_t* p, bool swapped) {
  const uint16_t v = uint16_t(p[0] | p[1] << 8);
  return swapped ? __builtin_bswap16(v) : v;
}

// Walks the blocks of a pcapng file: calls on_block(type, body, body_length, swapped)
// until it returns false or the file ends. Returns false on a corrupt block.
// With `interfaces_only`, other blocks are skipped unread (on_block does not see them).
template <typename OnBlock>
bool walk_blocks(FILE* file, std::vector<uint8_t>& block, bool& swapped, uint64_t& offset, OnBlock&& on_block,
                 std::string* error, bool interfaces_only = false) {
  uint8_t header[8];
  while (std::fread(header, 1, 8, file) == 8) {
    uint32_t type = load32(header, swapped);
    if (type == kSectionHeader) {
      // The byte-order magic after the length says how every later number reads.
      uint8_t magic[4];
      if (std::fread(magic, 1, 4, file) != 4) break;
      swapped = load32(magic, false) != kByteOrderMagic;
      if (load32(magic, swapped) != kByteOrderMagic) {
        if (error) *error = fmt::format("section header at byte {} has no byte-order magic", offset);
        return false;
      }
      std::fseek(file, -4, SEEK_CUR);
      type = kSectionHeader;
    }
    const uint32_t total = load32(header + 4, swapped);
    if (total < 12 || total % 4 != 0 || total > kMaxBlockBytes) {
      if (error) *error = fmt::format("block at byte {} declares an impossible length {}", offset, total);
      return false;
    }
    if (interfaces_only && type != kInterfaceDescription && type != kSectionHeader) {
      if (std::fseek(file, long(total - 8), SEEK_CUR) != 0) return false;
      offset += total;
      continue;
    }
    block.resize(total - 8);
    if (std::fread(block.data(), 1, block.size(), file) != block.size()) {
      if (error) *error = fmt::format("block at byte {} is cut short (truncated file)", offset);
      return false;
    }
    offset += total;
    if (!on_block(type, block.data(), total - 12)) return true;
  }
  return true;
}

}  // namespace

std::vector<int> pcapng_link_types(const std::string& path) {
  std::vector<int> types;
  FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return types;
  uint8_t magic[4];
  if (std::fread(magic, 1, 4, file) == 4 && load32(magic, false) == kSectionHeader) {
    std::rewind(file);
    std::vector<uint8_t> block;
    bool swapped = false;
    uint64_t offset = 0;
    walk_blocks(file, block, swapped, offset,
                [&](uint32_t type, const uint8_t* body, uint32_t length) {
                  if (type == kInterfaceDescription && length >= 2) types.push_back(load16(body, swapped));
                  return true;
                },
                nullptr, true);
  }
  std::fclose(file);
  return types;
}

CaptureReader::CaptureReader(const std::string& path, const std::string& filter) : path_(path) {
  // libpcap would wait forever on a FIFO and read a device without end.
  regular_file_size(path, "capture");
  const std::vector<int> types = pcapng_link_types(path);
  if (std::set<int>(types.begin(), types.end()).size() > 1) {
    open_blocks(filter);
    return;
  }
  char error[PCAP_ERRBUF_SIZE] = {};
  handle_ = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, error);
  if (!handle_) throw InputError(fmt::format("{}: cannot read as pcap or pcapng: {}", path, error));
  linktype_ = pcap_datalink(handle_);
  // libpcap reads each record with two freads, and once the process has a second
  // thread (the CLI's signal watcher) glibc locks the FILE around every one of them.
  // Only this reader uses the FILE.
  __fsetlocking(pcap_file(handle_), FSETLOCKING_BYCALLER);
  if (!filter.empty()) {
    if (pcap_compile(handle_, &filter_, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      std::string message = pcap_geterr(handle_);
      pcap_close(handle_);
      throw InputError(fmt::format("{}: filter '{}': {}", path, filter, message));
    }
    has_filter_ = true;
  }
}

CaptureReader::~CaptureReader() {
  if (has_filter_) pcap_freecode(&filter_);
  if (handle_) pcap_close(handle_);
  for (Interface& i : interfaces_) {
    if (i.has_filter) pcap_freecode(&i.filter);
    if (i.dead) pcap_close(i.dead);
  }
  if (block_file_) std::fclose(block_file_);
}

void CaptureReader::open_blocks(const std::string& filter) {
  filter_text_ = filter;
  block_file_ = std::fopen(path_.c_str(), "rb");
  if (!block_file_) throw InputError(fmt::format("{}: cannot open", path_));
  __fsetlocking(block_file_, FSETLOCKING_BYCALLER);  // as for libpcap's FILE above
  linktype_ = pcapng_link_types(path_).front();
}

void CaptureReader::add_interface(const uint8_t* body, uint32_t length) {
  if (length < 8) throw InputError(fmt::format("{}: interface description block at byte {} is too short", path_, block_offset_));
  Interface i;
  i.linktype = load16(body, swapped_);
  // Files carry LINKTYPE_ values; libpcap's filter compiler wants DLT_ ones, which differ
  // below 104 (raw IP is the one that matters here).
  if (i.linktype == 101) i.linktype = DLT_RAW;
  // Options: if_tsresol (code 9) gives the timestamp unit, 10^-n or 2^-n seconds.
  for (uint32_t at = 8; at + 4 <= length;) {
    const uint16_t code = load16(body + at, swapped_), option_length = load16(body + at + 2, swapped_);
    if (code == 0 || at + 4 + option_length > length) break;
    if (code == 9 && option_length >= 1) {
      const uint8_t resolution = body[at + 4];
      const unsigned exponent = resolution & 0x7f;
      if (exponent > 18) throw InputError(fmt::format("{}: interface {} has timestamp resolution 2^-{} or 10^-{}, beyond nanoseconds", path_, interfaces_.size(), exponent, exponent));
      i.units_per_second = 1;
      for (unsigned k = 0; k < exponent; ++k) i.units_per_second *= (resolution & 0x80) ? 2 : 10;
    }
    at += 4 + (option_length + 3) / 4 * 4;
  }
  if (!filter_text_.empty()) {
    i.dead = pcap_open_dead(i.linktype, 262144);
    if (pcap_compile(i.dead, &i.filter, filter_text_.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      const std::string message = pcap_geterr(i.dead);
      pcap_close(i.dead);
      throw InputError(fmt::format("{}: filter '{}' on interface {} ({}): {}", path_, filter_text_, interfaces_.size(),
                                   i.linktype, message));
    }
    i.has_filter = true;
  }
  interfaces_.push_back(i);
}

bool CaptureReader::next_block_packet(CapturedPacket& packet) {
  bool found = false;
  std::string error;
  const bool intact = walk_blocks(
      block_file_, block_, swapped_, block_offset_,
      [&](uint32_t type, const uint8_t* body, uint32_t length) {
        if (type == kSectionHeader) {
          for (Interface& i : interfaces_) {
            if (i.has_filter) pcap_freecode(&i.filter);
            if (i.dead) pcap_close(i.dead);
          }
          interfaces_.clear();
          return true;
        }
        if (type == kInterfaceDescription) {
          add_interface(body, length);
          return true;
        }
        if (type != kEnhancedPacket && type != kSimplePacket) return true;
        ++number_;
        uint32_t interface = 0, caplen = 0, wire = 0, header = 0;
        uint64_t stamp = 0;
        if (type == kEnhancedPacket) {
          if (length < 20) throw InputError(fmt::format("{}: packet {}: enhanced packet block too short", path_, number_));
          interface = load32(body, swapped_);
          stamp = uint64_t(load32(body + 4, swapped_)) << 32 | load32(body + 8, swapped_);
          caplen = load32(body + 12, swapped_);
          wire = load32(body + 16, swapped_);
          header = 20;
        } else {
          if (length < 4) throw InputError(fmt::format("{}: packet {}: simple packet block too short", path_, number_));
          wire = load32(body, swapped_);
          caplen = std::min(wire, length - 4);
          header = 4;
        }
        if (interface >= interfaces_.size())
          throw InputError(fmt::format("{}: packet {}: names interface {} but only {} are described", path_, number_,
                                       interface, interfaces_.size()));
        if (caplen > length - header)
          throw InputError(fmt::format("{}: packet {}: captured length {} runs past its block", path_, number_, caplen));
        const Interface& i = interfaces_[interface];
        pcap_pkthdr pseudo{};
        pseudo.caplen = caplen;
        pseudo.len = wire;
        if (i.has_filter && !pcap_offline_filter(&i.filter, &pseudo, body + header)) {
          ++filtered_out_;
          return true;
        }
        if (caplen > wire) ++caplen_above_wire_;
        packet.number = number_;
        packet.time_ns = int64_t(stamp / i.units_per_second * 1'000'000'000 +
                                 stamp % i.units_per_second * 1'000'000'000 / i.units_per_second);
        packet.caplen = caplen;
        packet.wire_length = wire;
        packet.data = body + header;
        packet.linktype = i.linktype;
        found = true;
        return false;
      },
      &error);
  if (!intact) throw InputError(fmt::format("{}: packet {}: {}", path_, number_ + 1, error));
  return found;
}

bool CaptureReader::next(CapturedPacket& packet) {
  if (block_file_) return next_block_packet(packet);
  for (;;) {
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    const int status = pcap_next_ex(handle_, &header, &data);
    if (status == PCAP_ERROR_BREAK) return false;
    if (status != 1)
      throw InputError(fmt::format("{}: packet {}: {}", path_, number_ + 1, pcap_geterr(handle_)));
    ++number_;
    if (has_filter_ && !pcap_offline_filter(&filter_, header, data)) {
      ++filtered_out_;
      continue;
    }
    if (header->caplen > header->len) ++caplen_above_wire_;
    packet.number = number_;
    // The handle was opened for nanosecond precision: tv_usec carries nanoseconds.
    packet.time_ns = int64_t(header->ts.tv_sec) * 1'000'000'000 + int64_t(header->ts.tv_usec);
    packet.caplen = header->caplen;
    packet.wire_length = header->len;
    packet.data = data;
    packet.linktype = linktype_;
    return true;
  }
}

}  // namespace rcvq
