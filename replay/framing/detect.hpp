#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "framing/framing.hpp"

namespace rcvq {

// Every preamble rule decides from at most this many leading bytes of a stream.
inline constexpr size_t kPreambleProbeBytes = 32;

// Length of the unframed start of a stream under `framing`'s preamble rule, judged from
// its first bytes. nullopt while `head` is too short to tell and `stream_ended` is false.
std::optional<uint64_t> preamble_length(const Framing& framing, std::span<const uint8_t> head,
                                        bool stream_ended);

// `framing` with its preamble rule applied to `stream`: a Fixed framing whose preamble
// holds the stream's leading bytes. Throws InputError when the stream is shorter.
Framing resolve_preamble(const Framing& framing, std::span<const uint8_t> stream);

// What one framing makes of one direction's byte stream, fed segment by segment in
// stream order: frames, and how segments and frames line up (what AutoLOWAT can save).
struct FramingStats {
  uint64_t preamble_bytes = 0;
  uint64_t frames = 0;
  uint64_t framed_bytes = 0;       // preamble plus complete frames
  uint64_t trailing_bytes = 0;     // of an incomplete last frame, once finished
  uint64_t empty_frames = 0;       // frames that are only a prefix
  uint64_t largest_frame = 0;
  uint64_t frames_spanning_segments = 0;  // frames whose bytes came in 2+ segments
  uint64_t multi_frame_segments = 0;      // segments carrying bytes of 2+ frames
  uint64_t segments = 0;                  // segments that carried frame bytes
  std::map<uint64_t, uint64_t> segments_per_frame;  // segments -> frames
};

// Streaming trial of one framing: the building block of `framing: auto` and of
// inspect's per-direction statistics. Memory stays constant whatever the stream size.
class FramingTrial {
 public:
  // A frame declaring more than `max_frame_bytes` (0 = no limit) fails the trial.
  FramingTrial(Framing candidate, uint64_t max_frame_bytes);
  FramingTrial(const FramingTrial&) = delete;
  FramingTrial& operator=(const FramingTrial&) = delete;

  void feed_segment(std::span<const uint8_t> bytes);
  void finish();  // end of stream: decides a pending preamble, counts trailing bytes

  bool failed() const { return !failure_.empty(); }
  const std::string& failure() const { return failure_; }  // names the stream offset
  // Frames the whole stream: no failure, at least one frame, nothing left over (or,
  // for a stream cut short by a gap, only the frame the gap interrupted).
  bool complete(bool cut_short = false) const {
    return !failed() && finished_ && stats_.frames > 0 && (cut_short || stats_.trailing_bytes == 0);
  }
  const Framing& candidate() const { return candidate_; }
  // The framing with its preamble decided (valid once a preamble is known).
  const Framing& resolved() const { return resolved_; }
  const FramingStats& stats() const { return stats_; }
  uint64_t offset() const { return offset_; }

 private:
  void start_scanning(uint64_t preamble_length);
  void scan_segment(std::span<const uint8_t> bytes);

  Framing candidate_;
  Framing resolved_;
  uint64_t max_frame_bytes_;
  std::unique_ptr<FrameScanner> scanner_;  // once the preamble is known
  std::vector<uint8_t> head_;              // leading bytes until then
  std::vector<uint32_t> head_segments_;    // their segment lengths, replayed later
  std::vector<uint64_t> ends_;
  uint64_t offset_ = 0;
  uint64_t segments_in_open_frame_ = 0;
  FramingStats stats_;
  std::string failure_;
  bool finished_ = false;
};

// `framing: auto`: every preset on one stream at once.
class FramingDetector {
 public:
  explicit FramingDetector(uint64_t max_frame_bytes = 64ULL << 20);
  void feed_segment(std::span<const uint8_t> bytes);
  void finish();

  struct Verdict {
    const FramingTrial* winner = nullptr;  // null: no preset frames the stream completely
    std::vector<std::string> also_complete;  // other presets that frame it too
    std::string explanation;                 // one line, for messages and inspect
  };
  // `cut_short`: the stream was fed up to a gap, so its last frame may be incomplete.
  Verdict verdict(bool cut_short = false) const;
  const std::vector<std::unique_ptr<FramingTrial>>& trials() const { return trials_; }

 private:
  std::vector<std::unique_ptr<FramingTrial>> trials_;
  std::vector<std::vector<std::string>> same_spec_names_;  // presets identical to a trial's
};

// `framing` resolved against a stream fed to it in pieces, in order: auto picks the
// preset that frames all of it, preamble rules keep only the leading bytes they read.
// Memory stays constant whatever the stream size.
class StreamFramingResolver {
 public:
  explicit StreamFramingResolver(const Framing& framing);
  void feed(std::span<const uint8_t> bytes);
  // At the end of the stream. Throws InputError starting with `where` when auto finds
  // no preset, or when the stream is shorter than its preamble.
  Framing resolved(const std::string& where);

 private:
  const Framing& framing_;
  std::unique_ptr<FramingDetector> detector_;  // for auto
  std::vector<uint8_t> head_;
  uint64_t head_wanted_ = kPreambleProbeBytes;  // grows to the preamble once it is known
};

// `framing` resolved against a whole stream.
Framing resolve_framing(const Framing& framing, std::span<const uint8_t> stream,
                        const std::string& where);

}  // namespace rcvq
