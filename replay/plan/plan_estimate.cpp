#include "plan/plan_estimate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/errors.hpp"
#include "plan/frame_send_ring.hpp"
#include "plan/plan.hpp"

namespace rcvq {
namespace {

// The planner hands a socket at most this much per send() (plan_per_frame).
constexpr uint64_t kMaxSendPiece = 1ULL << 30;
// A captured packet with one TCP payload byte: 16-byte pcap record header, 20-byte
// IPv4 and 20-byte TCP headers. No capture holds more data segments per byte.
constexpr uint64_t kMinCapturedPacketBytes = 57;

uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

// Cuts frames and captured segments the way plan_per_frame / plan_as_captured and
// apply_packet_effects will, counting instead of storing.
class PlanCounter {
 public:
  explicit PlanCounter(const Scenario& sc) : seg_(sc.segmentation) {
    if (sc.transport.kind == Transport::Kind::Tap) mss_ = tap_mss(sc.transport);
    if (seg_.kind == Segmentation::Kind::Sizes) {
      size_prefix_.push_back(0);
      for (uint64_t s : seg_.sizes) size_prefix_.push_back(size_prefix_.back() + s);
    }
    estimate_.upper_bound = seg_.kind == Segmentation::Kind::Random;
  }

  void add_preamble(uint64_t bytes) {
    if (bytes == 0) return;
    estimate_.stream_bytes += bytes;
    estimate_.segments += pieces(bytes);
    duration_us_ += double(seg_.frame_gap_us);
  }

  void add_frame(uint64_t length) {
    if (estimate_.frames > 0) duration_us_ += double(seg_.frame_gap_us);
    ++estimate_.frames;
    estimate_.stream_bytes += length;
    estimate_.largest_frame_bytes = std::max(estimate_.largest_frame_bytes, length);
    const auto [chunks, segments] = cut(length);
    estimate_.segments += segments;
    duration_us_ += double(chunks - 1) * double(seg_.chunk_gap_us);
  }

  void add_captured_segment(uint32_t length, int64_t gap_ns) {
    if (estimate_.segments > 0) {
      double gap_us = double(std::max<int64_t>(0, gap_ns)) * seg_.time_scale / 1e3;
      if (seg_.max_gap_us) gap_us = std::min(gap_us, double(seg_.max_gap_us));
      duration_us_ += gap_us;
    }
    estimate_.segments += pieces(length);
  }

  void set_frames(uint64_t frames, uint64_t stream_bytes) {
    estimate_.frames = frames;
    estimate_.stream_bytes = stream_bytes;
  }

  PlanEstimate finish() {
    if (mss_) apply_packet_effects();
    estimate_.duration_s = duration_us_ / 1e6;
    return estimate_;
  }

 private:
  struct Cut {
    uint64_t chunks = 1;    // pieces the cut makes (chunk_gap_us between them)
    uint64_t segments = 1;  // transmissions, after splitting to the send limit or MSS
  };

  uint64_t pieces(uint64_t bytes) const { return bytes == 0 ? 0 : ceil_div(bytes, mss_ ? mss_ : kMaxSendPiece); }
  // Segments of `count` chunks of `size` bytes each.
  uint64_t pieces(uint64_t count, uint64_t size) const { return count * pieces(size); }

  Cut cut(uint64_t length) {
    using K = Segmentation::Kind;
    switch (seg_.kind) {
      case K::Whole:
      case K::AsCaptured:
        return {1, pieces(length)};
      case K::Fixed:
        if (seg_.chunks) {
          const uint64_t parts = std::min(seg_.chunks, length), base = length / parts, longer = length % parts;
          return {parts, pieces(parts - longer, base) + pieces(longer, base + 1)};
        }
        return {ceil_div(length, seg_.fixed),
                pieces(length / seg_.fixed, seg_.fixed) + pieces(length % seg_.fixed)};
      case K::SplitDescriptor:
        if (length <= seg_.split_at) return {1, pieces(length)};
        return {2, pieces(seg_.split_at) + pieces(length - seg_.split_at)};
      case K::Sizes: {
        const uint64_t listed = size_prefix_.back();
        const uint64_t chunks =
            length <= listed
                ? uint64_t(std::lower_bound(size_prefix_.begin(), size_prefix_.end(), length) - size_prefix_.begin())
                : seg_.sizes.size() + ceil_div(length - listed, seg_.sizes.back());
        return {chunks, chunks_split(chunks, length)};
      }
      case K::Random: {
        const uint64_t chunks = ceil_div(length, seg_.random_min);
        return {chunks, chunks_split(chunks, length)};
      }
    }
    return {};
  }

  // Chunks of unequal sizes no larger than the send limit: on tap each also splits at
  // the MSS, at most one short piece per chunk.
  uint64_t chunks_split(uint64_t chunks, uint64_t length) {
    if (!mss_) return chunks;
    estimate_.upper_bound = true;
    return chunks + length / mss_;
  }

  // Mirrors apply_packet_effects: gaps_us retimes every MSS-cut segment, an overlap
  // may spill into one more packet, a duplicate or a retransmission adds one.
  void apply_packet_effects() {
    const PacketEffects& fx = seg_.effects;
    if (!fx.any()) return;
    estimate_.upper_bound = true;
    uint64_t& n = estimate_.segments;
    if (!fx.gaps_us.empty() && n > 1) {
      double cycle = 0;
      for (uint64_t g : fx.gaps_us) cycle += double(g);
      const uint64_t gaps = n - 1;
      duration_us_ = double(gaps / fx.gaps_us.size()) * cycle;
      for (uint64_t i = 0; i < gaps % fx.gaps_us.size(); ++i) duration_us_ += double(fx.gaps_us[(i + 1) % fx.gaps_us.size()]);
    }
    if (fx.overlap.every) n += ceil_div(n, fx.overlap.every);
    const uint64_t cut = n;
    if (fx.duplicate.every) n += ceil_div(cut, fx.duplicate.every);
    if (fx.drop.every) {
      n += ceil_div(cut, fx.drop.every);
      duration_us_ += double(fx.retransmit_after_us);
    }
  }

  const Segmentation& seg_;
  uint32_t mss_ = 0;
  std::vector<uint64_t> size_prefix_;
  double duration_us_ = 0;
  PlanEstimate estimate_;
};

// A FrameSendRing slot: the frame number, its due time and its send time.
constexpr double kSendRingSlotBytes = 3 * sizeof(int64_t);

std::string megabytes(double bytes) { return fmt::format("{:.0f} MB", std::ceil(bytes / double(1 << 20))); }

}  // namespace

double PlanEstimate::memory_bytes(const Scenario& sc) const {
  double per_segment = double(sizeof(PlannedSegment) + sizeof(int64_t));
  // cut_to_mss, apply_drop_and_duplicate's Tx list, reorder's slots; the tap sender's
  // pacing records.
  if (sc.transport.kind == Transport::Kind::Tap)
    per_segment += double(2 * sizeof(PlannedSegment) + 2 * sizeof(int64_t) + 2 * sizeof(int64_t));
  const double per_frame = double(sizeof(PlannedFrame) + sizeof(uint64_t) + sizeof(int64_t) * sc.receiver.connections);
  return double(stream_bytes) + double(extra_bytes) + double(segments) * per_segment + double(frames) * per_frame;
}

PlanEstimate estimate_synthetic_plan(const Scenario& sc) {
  PlanCounter counter(sc);
  counter.add_preamble(sc.framing.preamble.size());
  const uint64_t prefix = sc.framing.prefix_size();
  for_each_synthetic_frame(sc, [&](uint64_t header, uint64_t payload) { counter.add_frame(prefix + header + payload); });
  PlanEstimate e = counter.finish();
  e.source_keys = "source.synthetic.frames, header, payload";
  e.timing_keys = "segmentation.frame_gap_us, chunk_gap_us";
  return e;
}

PlanEstimate estimate_capture_reading(const Scenario& sc, uint64_t file_bytes) {
  const CaptureSource& cap = sc.source.capture;
  PlanEstimate e;
  e.upper_bound = true;
  // The reassembled direction and the copy the replay keeps of it.
  e.stream_bytes = std::min(file_bytes, cap.max_stream_bytes);
  e.extra_bytes = e.stream_bytes;
  e.segments = std::min(file_bytes / kMinCapturedPacketBytes, e.stream_bytes);
  e.source_keys = "source.capture.max_stream_bytes";
  return e;
}

PlanEstimate estimate_captured_plan(const Scenario& sc, const SourceStream& source) {
  PlanCounter counter(sc);
  const std::vector<uint64_t> ends = split_frames(sc.framing, source.bytes);
  if (sc.segmentation.kind == Segmentation::Kind::AsCaptured) {
    int64_t previous = source.segments.empty() ? 0 : source.segments.front().time_ns;
    for (const SourceSegment& s : source.segments) {
      counter.add_captured_segment(s.length, s.time_ns - previous);
      previous = s.time_ns;
    }
    counter.set_frames(ends.size(), source.bytes.size());
  } else {
    counter.add_preamble(sc.framing.spec.preamble);
    uint64_t start = sc.framing.spec.preamble;
    for (uint64_t end : ends) {
      counter.add_frame(end - start);
      start = end;
    }
  }
  PlanEstimate e = counter.finish();
  name_capture_keys(sc, e);
  return e;
}

void name_capture_keys(const Scenario& sc, PlanEstimate& e) {
  e.source_keys = "source.capture.max_stream_bytes";
  e.timing_keys = sc.segmentation.kind == Segmentation::Kind::AsCaptured
                      ? "segmentation.time_scale, max_gap_us"
                      : "segmentation.frame_gap_us, chunk_gap_us";
}

void check_plan_budget(const Scenario& sc, const PlanEstimate& e) {
  const char* about = e.upper_bound ? "up to " : "";
  const double memory = e.memory_bytes(sc);
  if (memory > double(sc.run.max_memory_mb) * double(1 << 20))
    throw InputError(fmt::format(
        "{}: the plan needs {}{} ({} stream bytes, {} segments, {} frames x {} connections), over run.max_memory_mb "
        "{}: shrink {} or raise run.max_memory_mb",
        sc.path, about, megabytes(memory), e.stream_bytes, e.segments, e.frames, sc.receiver.connections,
        sc.run.max_memory_mb, e.source_keys));
  check_plan_duration(sc, e);
}

void check_streamed_plan_budget(const Scenario& sc, const PlanEstimate& e) {
  const double window = double(e.largest_frame_bytes + sc.framing.preamble.size()) +
                        double(sc.sender.threads) * double(FrameSendRing::kSlots) * kSendRingSlotBytes;
  if (window > double(sc.run.max_memory_mb) * double(1 << 20))
    throw InputError(fmt::format(
        "{}: the streamed plan needs {} (its largest frame, {} bytes, is generated whole, beside the sender's "
        "send-time rings), over run.max_memory_mb {}: shrink {} or raise run.max_memory_mb",
        sc.path, megabytes(window), e.largest_frame_bytes, sc.run.max_memory_mb, e.source_keys));
  check_plan_duration(sc, e);
}

void check_plan_duration(const Scenario& sc, const PlanEstimate& e) {
  const char* about = e.upper_bound ? "up to " : "";
  if (e.duration_s > sc.run.max_duration_s)
    throw InputError(fmt::format(
        "{}: one replay of the plan takes {}{:.0f} s ({} segments, {} frames), over run.max_duration_s {}: shrink {} "
        "or raise run.max_duration_s",
        sc.path, about, e.duration_s, e.segments, e.frames, sc.run.max_duration_s, e.timing_keys));
}

}  // namespace rcvq
