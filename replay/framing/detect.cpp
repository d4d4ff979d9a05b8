#include "framing/detect.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "common/errors.hpp"

namespace rcvq {
namespace {

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

bool is_letter(uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// PostgreSQL protocol 3 (section 55.7): request codes of the untyped first messages.
constexpr uint32_t kPgSslRequest = 80877103;
constexpr uint32_t kPgGssEncRequest = 80877104;
constexpr uint32_t kPgCancelRequest = 80877102;
constexpr uint32_t kPgMaxStartupLength = 10000;  // the server's own limit

std::optional<uint64_t> postgres_preamble(std::span<const uint8_t> head, bool ended) {
  const auto undecided = [&](uint64_t fallback) -> std::optional<uint64_t> {
    if (ended) return fallback;
    return std::nullopt;
  };
  if (head.empty()) return undecided(0);
  if (head[0] != 0) {
    // A typed message, or the server's one-byte answer to SSLRequest/GSSENCRequest
    // ('N' refuses, then the typed Authentication message follows).
    if (head[0] != 'N' && head[0] != 'S' && head[0] != 'G') return 0;
    if (head.size() < 2) return undecided(0);
    return is_letter(head[1]) ? 1 : 0;
  }
  if (head.size() < 8) return undecided(0);
  const uint32_t length = be32(head.data()), code = be32(head.data() + 4);
  if ((code == kPgSslRequest || code == kPgGssEncRequest) && length == 8) {
    // The client goes on in plain text with its StartupMessage after a refusal.
    if (head.size() < 16) return undecided(8);
    const uint32_t next_length = be32(head.data() + 8), next_code = be32(head.data() + 12);
    if (next_code >> 16 == 3 && next_length >= 8 && next_length <= kPgMaxStartupLength)
      return 8 + next_length;
    return 8;
  }
  if (code == kPgCancelRequest && length == 16) return 16;
  if (code >> 16 == 3 && length >= 8 && length <= kPgMaxStartupLength) return length;
  return 0;
}

}  // namespace

std::optional<uint64_t> preamble_length(const Framing& framing, std::span<const uint8_t> head,
                                        bool stream_ended) {
  switch (framing.preamble_rule) {
    case PreambleRule::Fixed:
      return framing.preamble.size();
    case PreambleRule::FirstBytes:
      return framing.spec.preamble;
    case PreambleRule::IfPresent: {
      const size_t n = std::min(head.size(), framing.preamble.size());
      if (!std::equal(head.begin(), head.begin() + n, framing.preamble.begin())) return 0;
      if (n == framing.preamble.size()) return n;
      if (stream_ended) return 0;
      return std::nullopt;
    }
    case PreambleRule::PostgresStartup:
      return postgres_preamble(head, stream_ended);
  }
  return 0;
}

Framing resolve_preamble(const Framing& framing, std::span<const uint8_t> stream) {
  const uint64_t length =
      *preamble_length(framing, stream.first(std::min(stream.size(), kPreambleProbeBytes)), true);
  if (length > stream.size())
    throw InputError(fmt::format("framing '{}': the {}-byte stream is shorter than its {}-byte preamble",
                                 framing.name, stream.size(), length));
  if (framing.preamble_rule == PreambleRule::Fixed &&
      !std::equal(framing.preamble.begin(), framing.preamble.end(), stream.begin()))
    throw InputError(fmt::format("framing '{}': the stream does not start with the {}-byte preamble",
                                 framing.name, length));
  Framing resolved = framing;
  resolved.preamble_rule = PreambleRule::Fixed;
  resolved.preamble.assign(stream.begin(), stream.begin() + length);
  resolved.spec.preamble = uint32_t(length);
  return resolved;
}

FramingTrial::FramingTrial(Framing candidate, uint64_t max_frame_bytes)
    : candidate_(std::move(candidate)), max_frame_bytes_(max_frame_bytes) {}

void FramingTrial::feed_segment(std::span<const uint8_t> bytes) {
  if (failed() || bytes.empty()) return;
  if (scanner_) {
    scan_segment(bytes);
    return;
  }
  head_.insert(head_.end(), bytes.begin(), bytes.end());
  head_segments_.push_back(uint32_t(bytes.size()));
  const auto probe = std::span<const uint8_t>(head_).first(std::min(head_.size(), kPreambleProbeBytes));
  if (auto length = preamble_length(candidate_, probe, false)) start_scanning(*length);
}

void FramingTrial::start_scanning(uint64_t preamble_length) {
  resolved_ = candidate_;
  resolved_.preamble_rule = PreambleRule::Fixed;
  resolved_.preamble.clear();
  resolved_.spec.preamble = uint32_t(preamble_length);
  stats_.preamble_bytes = preamble_length;
  scanner_ = std::make_unique<FrameScanner>(resolved_);
  std::vector<uint8_t> head = std::move(head_);
  size_t at = 0;
  for (uint32_t length : head_segments_) {
    scan_segment(std::span<const uint8_t>(head).subspan(at, length));
    at += length;
  }
  head_segments_.clear();
}

void FramingTrial::scan_segment(std::span<const uint8_t> bytes) {
  if (failed()) return;
  const uint64_t start = offset_, end = offset_ + bytes.size();
  const uint64_t preamble = resolved_.spec.preamble;
  if (start < preamble) {
    const size_t keep = size_t(std::min<uint64_t>(preamble - start, bytes.size()));
    resolved_.preamble.insert(resolved_.preamble.end(), bytes.begin(), bytes.begin() + keep);
  }
  ends_.clear();
  scanner_->feed(bytes, ends_);
  offset_ = end;
  if (scanner_->malformed()) {
    failure_ = fmt::format("malformed {} prefix at stream offset {}", candidate_.name,
                           scanner_->malformed_at());
    return;
  }
  if (end <= preamble) return;
  ++stats_.segments;
  const uint64_t prefix = resolved_.spec.prefix_size;
  auto record_frame = [&](uint64_t segments, uint64_t frame_end) {
    const uint64_t frame_start = stats_.frames == 0 ? preamble : stats_.framed_bytes;
    const uint64_t length = frame_end - frame_start;
    ++stats_.frames;
    stats_.framed_bytes = frame_end;
    stats_.largest_frame = std::max(stats_.largest_frame, length);
    if (length == prefix) ++stats_.empty_frames;
    if (segments > 1) ++stats_.frames_spanning_segments;
    ++stats_.segments_per_frame[segments];
  };
  uint64_t frames_touched = 1;
  if (ends_.empty()) {
    ++segments_in_open_frame_;
  } else {
    record_frame(segments_in_open_frame_ + 1, ends_.front());
    for (size_t i = 1; i < ends_.size(); ++i) record_frame(1, ends_[i]);
    const bool opens_next = ends_.back() < end;
    segments_in_open_frame_ = opens_next ? 1 : 0;
    frames_touched = ends_.size() + (opens_next ? 1 : 0);
  }
  if (frames_touched > 1) ++stats_.multi_frame_segments;
  if (max_frame_bytes_ && scanner_->bytes_missing() > max_frame_bytes_)
    failure_ = fmt::format("{} frame at stream offset {} declares more than {} bytes",
                           candidate_.name, stats_.frames == 0 ? preamble : stats_.framed_bytes,
                           max_frame_bytes_);
}

void FramingTrial::finish() {
  if (finished_) return;
  if (!scanner_ && !failed()) {
    const auto probe = std::span<const uint8_t>(head_).first(std::min(head_.size(), kPreambleProbeBytes));
    start_scanning(*preamble_length(candidate_, probe, true));
  }
  finished_ = true;
  if (stats_.framed_bytes == 0) stats_.framed_bytes = std::min(offset_, stats_.preamble_bytes);
  stats_.trailing_bytes = offset_ - std::min(offset_, stats_.framed_bytes);
}

FramingDetector::FramingDetector(uint64_t max_frame_bytes) {
  // Order of preference when several presets frame a stream: the ones whose prefixes
  // carry protocol rules beyond a length first.
  static const char* const kOrder[] = {"tls",   "postgres", "http2",         "dns-tcp", "mongodb",
                                       "mysql", "kafka",    "thrift-framed", "pulsar",  "desc8"};
  for (const char* name : kOrder) {
    Framing preset = framing_preset(name);
    auto same = std::find_if(trials_.begin(), trials_.end(), [&](const auto& trial) {
      const Framing& other = trial->candidate();
      return std::memcmp(&other.spec, &preset.spec, sizeof preset.spec) == 0 &&
             other.preamble_rule == preset.preamble_rule && other.valid_prefix == preset.valid_prefix;
    });
    if (same != trials_.end()) {
      same_spec_names_[size_t(same - trials_.begin())].push_back(name);
      continue;
    }
    trials_.push_back(std::make_unique<FramingTrial>(std::move(preset), max_frame_bytes));
    same_spec_names_.push_back({});
  }
}

void FramingDetector::feed_segment(std::span<const uint8_t> bytes) {
  for (auto& trial : trials_) trial->feed_segment(bytes);
}

void FramingDetector::finish() {
  for (auto& trial : trials_) trial->finish();
}

FramingDetector::Verdict FramingDetector::verdict(bool cut_short) const {
  Verdict v;
  std::vector<std::string> reasons;
  for (size_t i = 0; i < trials_.size(); ++i) {
    const FramingTrial& trial = *trials_[i];
    const std::string& name = trial.candidate().name;
    if (!trial.complete(cut_short)) {
      const FramingStats& s = trial.stats();
      reasons.push_back(trial.failed()        ? trial.failure()
                        : s.trailing_bytes    ? fmt::format("{}: {} bytes left in an incomplete frame", name,
                                                            s.trailing_bytes)
                                              : fmt::format("{}: no frame", name));
      continue;
    }
    // A stream of empty frames is what a zero-filled stream looks like to any length
    // prefix: rank such trials last.
    auto rank = [](const FramingTrial& t) { return t.stats().empty_frames > 0; };
    if (!v.winner || rank(trial) < rank(*v.winner)) {
      if (v.winner) v.also_complete.push_back(v.winner->candidate().name);
      v.winner = &trial;
    } else {
      v.also_complete.push_back(name);
    }
    for (const auto& alias : same_spec_names_[i]) v.also_complete.push_back(alias);
  }
  if (v.winner) {
    const FramingStats& s = v.winner->stats();
    v.explanation = fmt::format("{} frames {} {} bytes as {} frames{}{}", v.winner->candidate().name,
                                cut_short ? "the first" : "all",
                                s.framed_bytes, s.frames,
                                s.preamble_bytes ? fmt::format(" after a {}-byte preamble", s.preamble_bytes) : "",
                                v.also_complete.empty()
                                    ? ""
                                    : fmt::format(" (also complete: {})", fmt::join(v.also_complete, ", ")));
  } else {
    v.explanation = fmt::format("no preset frames the stream completely ({})", fmt::join(reasons, "; "));
  }
  return v;
}

StreamFramingResolver::StreamFramingResolver(const Framing& framing) : framing_(framing) {
  if (framing.is_auto()) detector_ = std::make_unique<FramingDetector>();
}

void StreamFramingResolver::feed(std::span<const uint8_t> bytes) {
  if (detector_) {
    detector_->feed_segment(bytes);
    return;
  }
  if (head_.size() >= head_wanted_) return;
  const size_t before = head_.size();
  head_.insert(head_.end(), bytes.begin(), bytes.begin() + long(std::min<uint64_t>(bytes.size(), head_wanted_ - before)));
  if (before < kPreambleProbeBytes && head_.size() >= kPreambleProbeBytes) {
    if (auto length = preamble_length(framing_, std::span(head_).first(kPreambleProbeBytes), false))
      head_wanted_ = std::max<uint64_t>(head_wanted_, *length);
    // The bytes of this piece past the probe may belong to the preamble too.
    const size_t taken = head_.size() - before;
    if (taken < bytes.size()) feed(bytes.subspan(taken));
  }
}

Framing StreamFramingResolver::resolved(const std::string& where) {
  if (!detector_) return resolve_preamble(framing_, head_);
  detector_->finish();
  FramingDetector::Verdict v = detector_->verdict();
  if (!v.winner) throw InputError(fmt::format("{}: framing auto: {}", where, v.explanation));
  return v.winner->resolved();
}

Framing resolve_framing(const Framing& framing, std::span<const uint8_t> stream, const std::string& where) {
  StreamFramingResolver resolver(framing);
  resolver.feed(stream);
  return resolver.resolved(where);
}

}  // namespace rcvq
