#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "frame_spec.h"

namespace rcvq {

// How a framing finds the unframed bytes at the start of a real (captured) stream.
// Synthetic streams and resolved framings always use Fixed.
enum class PreambleRule {
  Fixed,            // exactly `preamble`
  IfPresent,        // `preamble` when the stream starts with it, else none (HTTP/2 mid-stream)
  PostgresStartup,  // untyped SSLRequest/GSSENCRequest/CancelRequest/StartupMessage, or the
                    // server's one-byte answer to SSLRequest; none on a mid-stream capture
  FirstBytes,       // spec.preamble bytes whatever they hold (option preamble_bytes)
};

// A length-prefix framing: the portable ft_spec the BPF programs share, plus the
// bytes a stream starts with before the first frame.
struct Framing {
  std::string name;  // preset name, "custom", or "auto" until resolved against a stream
  ft_spec spec{};
  std::vector<uint8_t> preamble;  // spec.preamble == preamble.size() once resolved
  PreambleRule preamble_rule = PreambleRule::Fixed;
  // Protocol rules on a complete prefix beyond its length (TLS content type, Postgres
  // type byte); a prefix that breaks them is malformed. Null: any prefix goes.
  bool (*valid_prefix)(const uint8_t* prefix) = nullptr;
  // Bytes a generated prefix carries outside its length fields (a Postgres type byte,
  // a TLS content type and version), so synthetic frames pass valid_prefix.
  std::vector<uint8_t> prefix_template;

  bool is_auto() const { return name == "auto"; }
  // The preamble depends on the stream's content: resolve_framing() must run first.
  bool needs_stream() const { return is_auto() || preamble_rule != PreambleRule::Fixed; }

  uint32_t prefix_size() const { return spec.prefix_size; }
  // 0 when the prefix declares a length shorter than itself.
  uint64_t frame_length(const uint8_t* prefix) const { return ft_frame_len(&spec, prefix); }
  // Writes a prefix that declares a frame of prefix + header + payload bytes. Two-field
  // specs (desc8) carry header and payload lengths separately; one-field specs their sum.
  // Throws InputError when a field is too narrow for the value.
  void encode_prefix(uint8_t* out, uint64_t header_len, uint64_t payload_len) const;
};

// Throws InputError on unknown names. "auto" gives the placeholder that
// resolve_framing() replaces by the preset that frames the stream.
Framing framing_preset(std::string_view name);
const std::vector<std::string>& framing_preset_names();
// Checks field placement and widths; throws InputError with `where` in the message.
void validate_framing(const Framing& framing, const std::string& where);

// Incremental frame-boundary finder over one byte stream, fed in arbitrary pieces.
class FrameScanner {
 public:
  explicit FrameScanner(const Framing& framing);

  // Consumes `bytes`; appends the stream offset just past every frame they complete.
  void feed(std::span<const uint8_t> bytes, std::vector<uint64_t>& completed_ends);
  // Bytes still needed before the current frame (or, before its prefix is known, the
  // prefix) is complete: what a receiver would put in SO_RCVLOWAT.
  uint64_t bytes_missing() const;
  uint64_t offset() const { return offset_; }
  bool malformed() const { return malformed_; }
  // Offset where the first malformed prefix starts (valid when malformed()).
  uint64_t malformed_at() const { return frame_start_; }

 private:
  const Framing& framing_;
  uint64_t offset_ = 0;       // bytes consumed so far
  uint64_t frame_start_ = 0;  // where the current frame begins
  uint64_t frame_end_ = 0;    // 0 until the current prefix is complete
  uint8_t prefix_[FT_MAX_PREFIX]{};
  uint32_t prefix_have_ = 0;
  bool malformed_ = false;
};

// Frame end offsets of a whole stream; throws InputError naming the offset of a
// malformed prefix. A trailing incomplete frame is reported in `trailing_bytes`.
std::vector<uint64_t> split_frames(const Framing& framing, std::span<const uint8_t> stream,
                                   uint64_t* trailing_bytes = nullptr);

}  // namespace rcvq
