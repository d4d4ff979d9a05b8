#include "framing/framing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "common/errors.hpp"

namespace rcvq {
namespace {

ft_spec one_field(uint32_t prefix_size, uint32_t offset, uint32_t width, bool big_endian,
                  bool includes_prefix, int64_t adjustment = 0) {
  ft_spec s{};
  s.prefix_size = prefix_size;
  s.nfields = 1;
  s.includes_prefix = includes_prefix;
  s.adjustment = adjustment;
  s.fields[0] = {offset, width, big_endian};
  return s;
}

// RFC 9113 section 3.4: the client connection preface.
constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// RFC 8446 section 5.1 / RFC 5246 6.2: a known content type, a 3.x version, and at most
// 2^14 + 2048 bytes of ciphertext.
bool valid_tls_record(const uint8_t* p) {
  const unsigned length = unsigned(p[3]) << 8 | p[4];
  return p[0] >= 20 && p[0] <= 24 && p[1] == 3 && p[2] <= 4 && length <= 16384 + 2048;
}

// Every typed message of protocol 3 is named by a letter, except ParseComplete,
// BindComplete and CloseComplete ('1'..'3').
bool valid_postgres_type(const uint8_t* p) {
  const uint8_t t = p[0];
  return (t >= 'A' && t <= 'Z') || (t >= 'a' && t <= 'z') || (t >= '1' && t <= '3');
}

// RFC 9113 section 4.1: the reserved bit before the stream identifier stays unset.
bool valid_http2_header(const uint8_t* p) { return (p[5] & 0x80) == 0; }

// RFC 1035 section 4.1.1: every message carries a 12-byte header.
bool valid_dns_length(const uint8_t* p) { return (unsigned(p[0]) << 8 | p[1]) >= 12; }

std::map<std::string, Framing, std::less<>> make_presets() {
  std::map<std::string, Framing, std::less<>> presets;
  auto add = [&](std::string name, ft_spec spec, bool (*valid_prefix)(const uint8_t*) = nullptr,
                 PreambleRule rule = PreambleRule::Fixed, std::string_view preamble = {}) {
    spec.preamble = uint32_t(preamble.size());
    presets[name] = Framing{name, spec, std::vector<uint8_t>(preamble.begin(), preamble.end()),
                            rule, valid_prefix};
  };
  ft_spec desc8{};  // the upstream selftest's {u32 header_len, u32 payload_len}, LE
  desc8.prefix_size = 8;
  desc8.nfields = 2;
  desc8.fields[0] = {0, 4, 0};
  desc8.fields[1] = {4, 4, 0};
  add("desc8", desc8);
  add("kafka", one_field(4, 0, 4, true, false));
  add("thrift-framed", one_field(4, 0, 4, true, false));
  add("pulsar", one_field(4, 0, 4, true, false));
  add("mongodb", one_field(4, 0, 4, false, true));
  add("dns-tcp", one_field(2, 0, 2, true, false), valid_dns_length);
  add("mysql", one_field(4, 0, 3, false, false));
  // Type byte, then a length that counts itself but not the type byte. The untyped
  // startup messages before the first typed one are the preamble.
  add("postgres", one_field(5, 1, 4, true, true, 1), valid_postgres_type,
      PreambleRule::PostgresStartup);
  // Synthetic streams start with the client preface; a capture has it only when it
  // holds the client side from the connection's start.
  add("http2", one_field(9, 0, 3, true, false), valid_http2_header, PreambleRule::IfPresent,
      kHttp2Preface);
  add("tls", one_field(5, 3, 2, true, false), valid_tls_record);
  presets["postgres"].prefix_template = {'D'};                // DataRow
  presets["tls"].prefix_template = {0x17, 0x03, 0x03};        // application data, TLS 1.2
  presets["http2"].prefix_template = {0, 0, 0, 0, 0, 0, 0, 0, 1};  // DATA on stream 1
  return presets;
}

const std::map<std::string, Framing, std::less<>>& presets() {
  static const auto table = make_presets();
  return table;
}

void put_field(uint8_t* out, const ft_field& f, uint64_t value) {
  for (uint32_t b = 0; b < f.width; ++b) {
    uint32_t shift = 8 * (f.big_endian ? f.width - 1 - b : b);
    out[f.offset + b] = uint8_t(value >> shift);
  }
}

uint64_t field_max(const ft_field& f) {
  return f.width >= 8 ? UINT64_MAX : (uint64_t(1) << (8 * f.width)) - 1;
}

}  // namespace

Framing framing_preset(std::string_view name) {
  if (name == "auto") {
    Framing placeholder;
    placeholder.name = "auto";
    return placeholder;
  }
  auto it = presets().find(name);
  if (it == presets().end())
    throw InputError(fmt::format("unknown framing preset '{}' (known: auto, {})", name,
                                 fmt::join(framing_preset_names(), ", ")));
  return it->second;
}

const std::vector<std::string>& framing_preset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& [name, _] : presets()) v.push_back(name);
    return v;
  }();
  return names;
}

void validate_framing(const Framing& framing, const std::string& where) {
  const ft_spec& s = framing.spec;
  if (s.prefix_size < 1 || s.prefix_size > FT_MAX_PREFIX)
    throw InputError(fmt::format("{}: prefix size must be 1..{}", where, FT_MAX_PREFIX));
  if (s.nfields < 1 || s.nfields > FT_MAX_FIELDS)
    throw InputError(fmt::format("{}: 1..{} length fields are supported", where, FT_MAX_FIELDS));
  for (uint32_t i = 0; i < s.nfields; ++i) {
    const ft_field& f = s.fields[i];
    if (!(f.width >= 1 && f.width <= 4) && f.width != 8)
      throw InputError(fmt::format("{}: length field {} has width {}; use 1-4 or 8 bytes", where,
                                   i, f.width));
    if (f.offset + f.width > s.prefix_size)
      throw InputError(fmt::format("{}: length field {} (offset {}, width {}) ends past the "
                                   "{}-byte prefix",
                                   where, i, f.offset, f.width, s.prefix_size));
  }
}

void Framing::encode_prefix(uint8_t* out, uint64_t header_len, uint64_t payload_len) const {
  std::memset(out, 0, spec.prefix_size);
  std::memcpy(out, prefix_template.data(), std::min<size_t>(prefix_template.size(), spec.prefix_size));
  const uint64_t body = header_len + payload_len;
  auto put_checked = [&](const ft_field& f, int64_t value) {
    if (value < 0 || uint64_t(value) > field_max(f))
      throw InputError(fmt::format("framing '{}': a {}-byte field cannot declare length {}", name,
                                   f.width, value));
    put_field(out, f, uint64_t(value));
  };
  const int64_t declared =
      int64_t(body) - spec.adjustment + (spec.includes_prefix ? int64_t(spec.prefix_size) : 0);
  if (spec.nfields == 2) {
    // desc8-like: the first field carries the header length, the second the rest.
    put_checked(spec.fields[0], int64_t(header_len));
    put_checked(spec.fields[1], declared - int64_t(header_len));
    return;
  }
  put_checked(spec.fields[0], declared);
}

FrameScanner::FrameScanner(const Framing& framing) : framing_(framing) {
  frame_start_ = framing.spec.preamble;
}

void FrameScanner::feed(std::span<const uint8_t> bytes, std::vector<uint64_t>& completed_ends) {
  const uint64_t preamble = framing_.spec.preamble;
  const uint32_t prefix_size = framing_.spec.prefix_size;
  size_t pos = 0;
  if (offset_ < preamble) {
    size_t skip = size_t(std::min<uint64_t>(preamble - offset_, bytes.size()));
    pos += skip;
    offset_ += skip;
  }
  while (pos < bytes.size() && !malformed_) {
    if (frame_end_ == 0) {
      size_t take = std::min<size_t>(prefix_size - prefix_have_, bytes.size() - pos);
      std::memcpy(prefix_ + prefix_have_, bytes.data() + pos, take);
      prefix_have_ += uint32_t(take);
      pos += take;
      offset_ += take;
      if (prefix_have_ < prefix_size) break;
      uint64_t len = framing_.frame_length(prefix_);
      if (len == 0 || (framing_.valid_prefix && !framing_.valid_prefix(prefix_))) {
        malformed_ = true;
        break;
      }
      frame_end_ = frame_start_ + len;
    }
    uint64_t take = std::min<uint64_t>(frame_end_ - offset_, bytes.size() - pos);
    pos += size_t(take);
    offset_ += take;
    if (offset_ == frame_end_) {
      completed_ends.push_back(frame_end_);
      frame_start_ = frame_end_;
      frame_end_ = 0;
      prefix_have_ = 0;
    }
  }
}

uint64_t FrameScanner::bytes_missing() const {
  const uint64_t preamble = framing_.spec.preamble;
  if (offset_ < preamble) return preamble - offset_ + framing_.spec.prefix_size;
  if (frame_end_ == 0) return framing_.spec.prefix_size - prefix_have_;
  return frame_end_ - offset_;
}

std::vector<uint64_t> split_frames(const Framing& framing, std::span<const uint8_t> stream,
                                   uint64_t* trailing_bytes) {
  FrameScanner scanner(framing);
  std::vector<uint64_t> ends;
  scanner.feed(stream, ends);
  if (scanner.malformed())
    throw InputError(fmt::format("framing '{}': malformed length prefix at stream offset {}",
                                 framing.name, scanner.malformed_at()));
  uint64_t last = ends.empty() ? framing.spec.preamble : ends.back();
  if (trailing_bytes) *trailing_bytes = stream.size() - std::min<uint64_t>(last, stream.size());
  return ends;
}

}  // namespace rcvq
