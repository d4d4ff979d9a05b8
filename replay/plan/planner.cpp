#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <ostream>
#include <random>

#include "common/errors.hpp"
#include "plan/plan.hpp"

namespace rcvq {
namespace {

// Send times are int64 ns from the replay start, to which the runner adds the start
// time and a timeout: past 2^62 ns (146 years) a schedule can neither run nor be added
// to without overflowing into negative times.
constexpr double kMaxSendAtNs = double(int64_t(1) << 62);

// The send time `gap_ns` after `t`; bad input naming `key` when past kMaxSendAtNs.
int64_t send_time_after(const Scenario& sc, int64_t t, double gap_ns, const char* key) {
  const double at = double(t) + gap_ns;
  if (at > kMaxSendAtNs)
    throw InputError(fmt::format("{}: {} puts a send {:.3g} s after the replay start, past the 2^62 ns (146 years) "
                                 "a replay can schedule",
                                 sc.path, key, at / 1e9));
  return t + int64_t(gap_ns);
}

// Chunk lengths for one frame of `len` bytes under a per-frame segmentation.
std::vector<uint64_t> cut_frame(const Segmentation& seg, uint64_t len, std::mt19937_64& rng) {
  std::vector<uint64_t> chunks;
  auto fill_with = [&](auto next_size) {
    for (uint64_t done = 0, i = 0; done < len; ++i) {
      uint64_t n = std::min<uint64_t>(next_size(i), len - done);
      chunks.push_back(n);
      done += n;
    }
  };
  using K = Segmentation::Kind;
  switch (seg.kind) {
    case K::Whole:
    case K::AsCaptured:
      chunks.push_back(len);
      break;
    case K::Fixed:
      if (seg.chunks != 0) {
        const uint64_t parts = std::min<uint64_t>(seg.chunks, len);
        for (uint64_t i = 0; i < parts; ++i) chunks.push_back(len / parts + (i < len % parts ? 1 : 0));
      } else {
        fill_with([&](uint64_t) { return seg.fixed; });
      }
      break;
    case K::Sizes:
      fill_with([&](uint64_t i) { return seg.sizes[std::min<size_t>(i, seg.sizes.size() - 1)]; });
      break;
    case K::Random:
      fill_with([&](uint64_t) {
        return std::uniform_int_distribution<uint64_t>(seg.random_min, seg.random_max)(rng);
      });
      break;
    case K::SplitDescriptor:
      chunks.push_back(std::min(seg.split_at, len));
      if (len > seg.split_at) chunks.push_back(len - seg.split_at);
      break;
  }
  return chunks;
}

void plan_per_frame(const Scenario& sc, ReplayPlan& plan) {
  const Segmentation& seg = sc.segmentation;
  std::mt19937_64 rng(sc.source.synthetic.seed ^ 0x5bd1e995ULL);
  int64_t t = 0;
  if (plan.preamble_bytes) {
    plan.segments.push_back({0, uint32_t(plan.preamble_bytes), t, kSegNone});
    t += int64_t(seg.frame_gap_us) * 1000;
  }
  for (size_t f = 0; f < plan.frames.size(); ++f) {
    PlannedFrame& frame = plan.frames[f];
    if (f > 0) t = send_time_after(sc, t, double(seg.frame_gap_us) * 1000, "segmentation.frame_gap_us");
    frame.first_segment = uint32_t(plan.segments.size());
    uint64_t offset = frame.start;
    bool first = true;
    for (uint64_t len : cut_frame(seg, frame.end - frame.start, rng)) {
      if (!first) t = send_time_after(sc, t, double(seg.chunk_gap_us) * 1000, "segmentation.chunk_gap_us");
      first = false;
      // A socket send() takes at most INT_MAX bytes per call; larger chunks are split.
      for (uint64_t left = len; left > 0;) {
        uint32_t piece = uint32_t(std::min<uint64_t>(left, 1u << 30));
        plan.segments.push_back({offset, piece, t, kSegNone});
        offset += piece;
        left -= piece;
      }
    }
    frame.last_segment = uint32_t(plan.segments.size() - 1);
  }
}

void plan_as_captured(const Scenario& sc, const SourceStream& src, ReplayPlan& plan) {
  const Segmentation& seg = sc.segmentation;
  int64_t t = 0;
  int64_t previous_ts = src.segments.empty() ? 0 : src.segments.front().time_ns;
  for (const SourceSegment& s : src.segments) {
    if (s.offset >= plan.stream.size()) break;
    double gap = double(std::max<int64_t>(0, s.time_ns - previous_ts)) * seg.time_scale;
    if (seg.max_gap_us) gap = std::min(gap, double(seg.max_gap_us) * 1000);
    if (!plan.segments.empty())
      t = send_time_after(sc, t, gap, "segmentation.time_scale times the capture's gaps (max_gap_us caps them)");
    previous_ts = s.time_ns;
    uint32_t len = uint32_t(std::min<uint64_t>(s.length, plan.stream.size() - s.offset));
    plan.segments.push_back({s.offset, len, t, kSegNone});
  }
  // Map each frame to the captured segments holding its first and last bytes.
  size_t k = 0;
  for (PlannedFrame& frame : plan.frames) {
    while (k + 1 < plan.segments.size() &&
           plan.segments[k].offset + plan.segments[k].length <= frame.start)
      ++k;
    frame.first_segment = uint32_t(k);
    while (k + 1 < plan.segments.size() && plan.segments[k].offset + plan.segments[k].length < frame.end)
      ++k;
    frame.last_segment = uint32_t(k);
  }
}

std::string describe_cut(const Segmentation& seg) {
  using K = Segmentation::Kind;
  std::string cut;
  switch (seg.kind) {
    case K::Fixed:
      cut = seg.chunks ? fmt::format("{} chunks per frame", seg.chunks) : fmt::format("fixed {} B", seg.fixed);
      break;
    case K::Sizes: cut = fmt::format("sizes [{}]", fmt::join(seg.sizes, ", ")); break;
    case K::Random: cut = fmt::format("random {}..{} B", seg.random_min, seg.random_max); break;
    case K::SplitDescriptor: cut = fmt::format("split-descriptor after {} B", seg.split_at); break;
    case K::Whole:
    case K::AsCaptured: cut = to_string(seg.kind); break;
  }
  if (seg.kind == K::AsCaptured)
    return fmt::format("{} (time x{}{})", cut, seg.time_scale,
                       seg.max_gap_us ? fmt::format(", gaps capped at {} us", seg.max_gap_us) : "");
  return fmt::format("{}, {} us between chunks, {} us between frames", cut, seg.chunk_gap_us, seg.frame_gap_us);
}

}  // namespace

ReplayPlan build_plan(const Scenario& sc, SourceStream source) {
  ReplayPlan plan;
  plan.stream = std::move(source.bytes);
  plan.source_description = source.description;
  plan.preamble_bytes = sc.framing.spec.preamble;
  uint64_t trailing = 0;
  std::vector<uint64_t> ends = split_frames(sc.framing, plan.stream, &trailing);
  if (ends.empty())
    throw InputError(fmt::format("{}: the {} stream holds no complete '{}' frame", sc.path,
                                 source.description, sc.framing.name));
  if (trailing) {
    // An incomplete last frame can never complete at the receiver: leave it out.
    plan.stream.resize(ends.back());
    plan.source_description += fmt::format(" ({} trailing bytes of an incomplete frame dropped)", trailing);
  }
  uint64_t start = plan.preamble_bytes;
  for (uint64_t end : ends) {
    plan.frames.push_back({start, end, 0, 0, 0});
    start = end;
  }
  if (sc.run.warmup_frames >= plan.frames.size())
    throw InputError(fmt::format("{}: run.warmup_frames {} leaves no frame to measure ({} frames)",
                                 sc.path, sc.run.warmup_frames, plan.frames.size()));
  plan.warmup_frames = sc.run.warmup_frames;
  if (sc.segmentation.kind == Segmentation::Kind::AsCaptured)
    plan_as_captured(sc, source, plan);
  else
    plan_per_frame(sc, plan);
  apply_packet_effects(sc, plan);
  for (PlannedFrame& frame : plan.frames) frame.due_ns = plan.segments[frame.last_segment].send_at_ns;
  return plan;
}

double ReplayPlan::planned_segments_per_frame() const {
  const size_t measured = frames.size() - warmup_frames;
  if (measured == 0) return 0;
  const size_t first = frames[warmup_frames].first_segment;
  return double(segments.size() - first) / double(measured);
}

void print_plan(std::ostream& out, const Scenario& sc, const ReplayPlan& plan, size_t max_rows) {
  fmt::print(out, "scenario   {} ({})\n", sc.name, sc.path);
  fmt::print(out, "source     {}\n", plan.source_description);
  fmt::print(out, "framing    {} (prefix {} B{})\n", sc.framing.name, sc.framing.prefix_size(),
             plan.preamble_bytes ? fmt::format(", preamble {} B", plan.preamble_bytes) : "");
  fmt::print(out, "stream     {} bytes, {} frames ({} warm-up), {} segments\n", plan.stream.size(),
             plan.frames.size(), plan.warmup_frames, plan.segments.size());
  fmt::print(out, "cut        {}, {:.2f} segments/frame planned, duration {:.3f} ms\n",
             describe_cut(sc.segmentation), plan.planned_segments_per_frame(),
             double(plan.duration_ns()) / 1e6);
  const PacketEffects& fx = sc.segmentation.effects;
  if (sc.transport.kind == Transport::Kind::Tap)
    fmt::print(out, "packets    tap MSS {}{}{}{}{}{}\n", tap_mss(sc.transport),
               fx.reorder.every ? fmt::format(", reorder every {} from {} by {}", fx.reorder.every,
                                              fx.reorder.start, fx.reorder_by) : "",
               fx.duplicate.every ? fmt::format(", duplicate every {} from {}", fx.duplicate.every,
                                                fx.duplicate.start) : "",
               fx.overlap.every ? fmt::format(", overlap {} B every {} from {}", fx.overlap_bytes,
                                              fx.overlap.every, fx.overlap.start) : "",
               fx.drop.every ? fmt::format(", drop every {} from {}, retransmit after {} us", fx.drop.every,
                                           fx.drop.start, fx.retransmit_after_us) : "",
               fx.gaps_us.empty() ? "" : fmt::format(", gaps_us [{}]", fmt::join(fx.gaps_us, ", ")));
  fmt::print(out, "\n{:>8} {:>12} {:>8} {:>14}  {}\n", "segment", "offset", "bytes", "send_at_us", "frames");
  for (size_t i = 0; i < plan.segments.size() && i < max_rows; ++i) {
    const PlannedSegment& s = plan.segments[i];
    // Packet effects may send segments out of stream order: look each one up.
    const size_t frame = size_t(std::partition_point(plan.frames.begin(), plan.frames.end(),
                                                     [&](const PlannedFrame& f) { return f.end <= s.offset; }) -
                                plan.frames.begin());
    size_t last = frame;
    while (last + 1 < plan.frames.size() && plan.frames[last + 1].start < s.offset + s.length) ++last;
    std::string frames = frame >= plan.frames.size() ? "preamble"
                         : last == frame             ? fmt::format("{}", frame)
                                                     : fmt::format("{}-{}", frame, last);
    if (frame < plan.frames.size() && s.offset + s.length <= plan.frames[frame].start) frames = "preamble";
    const std::string flags = segment_flags_text(s.flags);
    fmt::print(out, "{:>8} {:>12} {:>8} {:>14.1f}  {}{}\n", i, s.offset, s.length, double(s.send_at_ns) / 1e3,
               frames, flags.empty() ? "" : "  " + flags);
  }
  if (plan.segments.size() > max_rows) fmt::print(out, "{:>8}\n", fmt::format("... {} more", plan.segments.size() - max_rows));
  fmt::print(out, "\n{:>8} {:>12} {:>12} {:>10} {:>14}\n", "frame", "start", "end", "segments", "due_us");
  for (size_t i = 0; i < plan.frames.size() && i < max_rows; ++i) {
    const PlannedFrame& f = plan.frames[i];
    fmt::print(out, "{:>8} {:>12} {:>12} {:>10} {:>14.1f}{}\n", i, f.start, f.end,
               f.last_segment - f.first_segment + 1, double(f.due_ns) / 1e3,
               i < plan.warmup_frames ? "  warm-up" : "");
  }
  if (plan.frames.size() > max_rows) fmt::print(out, "{:>8}\n", fmt::format("... {} more", plan.frames.size() - max_rows));
}

}  // namespace rcvq
