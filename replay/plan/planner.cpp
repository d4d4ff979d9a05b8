#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <ostream>
#include <sstream>

#include "common/errors.hpp"
#include "plan/schedule.hpp"
#include "plan/plan.hpp"
#include "plan/streamed_plan.hpp"

namespace rcvq {
namespace {

void plan_per_frame(const Scenario& sc, ReplayPlan& plan) {
  PerFrameSchedule schedule(sc);
  if (plan.preamble_bytes) schedule.add_preamble(plan.preamble_bytes, plan.segments);
  for (PlannedFrame& frame : plan.frames) {
    frame.first_segment = uint32_t(plan.segments.size());
    schedule.add_frame(frame.start, frame.end, plan.segments);
    frame.last_segment = uint32_t(plan.segments.size() - 1);
  }
}

void plan_as_captured(const Scenario& sc, const SourceStream& src, ReplayPlan& plan) {
  CapturedSchedule schedule(sc);
  for (const SourceSegment& s : src.segments) {
    if (s.offset >= plan.stream.size()) break;
    const uint32_t len = uint32_t(std::min<uint64_t>(s.length, plan.stream.size() - s.offset));
    plan.segments.push_back({s.offset, len, schedule.next(s.time_ns), kSegNone});
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

void check_frames_to_measure(const Scenario& sc, const std::string& source_description, uint64_t frames) {
  if (frames == 0)
    throw InputError(fmt::format("{}: the {} stream holds no complete '{}' frame", sc.path, source_description,
                                 sc.framing.name));
  if (sc.run.warmup_frames >= frames)
    throw InputError(fmt::format("{}: run.warmup_frames {} leaves no frame to measure ({} frames)", sc.path,
                                 sc.run.warmup_frames, frames));
}

ReplayPlan build_plan(const Scenario& sc, SourceStream source) {
  ReplayPlan plan;
  plan.stream = std::move(source.bytes);
  plan.source_description = source.description;
  plan.preamble_bytes = sc.framing.spec.preamble;
  uint64_t trailing = 0;
  std::vector<uint64_t> ends = split_frames(sc.framing, plan.stream, &trailing);
  check_frames_to_measure(sc, source.description, ends.size());
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
  const uint64_t measured = frame_count() - warmup_frames;
  if (measured == 0) return 0;
  const uint64_t first = streamed ? streamed->first_measured_segment : frames[warmup_frames].first_segment;
  return double(segment_count() - first) / double(measured);
}

std::map<uint32_t, uint64_t> ReplayPlan::measured_frames_by_segments() const {
  if (streamed) return streamed->measured_frames_by_segments;
  std::map<uint32_t, uint64_t> frames_by_segments;
  for (size_t f = warmup_frames; f < frames.size(); ++f)
    ++frames_by_segments[frames[f].last_segment - frames[f].first_segment + 1];
  return frames_by_segments;
}

int64_t ReplayPlan::measured_frame_period_ns() const {
  const uint64_t measured = frame_count() - warmup_frames;
  if (measured < 2) return 0;
  const int64_t first = streamed ? streamed->first_measured_due_ns : frames[warmup_frames].due_ns;
  const int64_t last = streamed ? streamed->last_due_ns : frames.back().due_ns;
  return (last - first) / int64_t(measured - 1);
}

namespace {

// Rows of the plan printer's two tables.
void print_segment_row(std::ostream& out, uint64_t index, const PlannedSegment& s, const std::string& frames) {
  const std::string flags = segment_flags_text(s.flags);
  fmt::print(out, "{:>8} {:>12} {:>8} {:>14.1f}  {}{}\n", index, s.offset, s.length, double(s.send_at_ns) / 1e3,
             frames, flags.empty() ? "" : "  " + flags);
}

void print_frame_row(std::ostream& out, uint64_t index, const PlannedFrame& f, uint64_t warmup_frames) {
  fmt::print(out, "{:>8} {:>12} {:>12} {:>10} {:>14.1f}{}\n", index, f.start, f.end,
             f.last_segment - f.first_segment + 1, double(f.due_ns) / 1e3, index < warmup_frames ? "  warm-up" : "");
}

void print_more(std::ostream& out, uint64_t rows) { fmt::print(out, "{:>8}\n", fmt::format("... {} more", rows)); }

const char* const kSegmentHeader = "\n{:>8} {:>12} {:>8} {:>14}  {}\n";
const char* const kFrameHeader = "\n{:>8} {:>12} {:>12} {:>10} {:>14}\n";

void print_held_rows(std::ostream& out, const ReplayPlan& plan, size_t max_rows) {
  fmt::print(out, fmt::runtime(kSegmentHeader), "segment", "offset", "bytes", "send_at_us", "frames");
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
    print_segment_row(out, i, s, frames);
  }
  if (plan.segments.size() > max_rows) print_more(out, plan.segments.size() - max_rows);
  fmt::print(out, fmt::runtime(kFrameHeader), "frame", "start", "end", "segments", "due_us");
  for (size_t i = 0; i < plan.frames.size() && i < max_rows; ++i) print_frame_row(out, i, plan.frames[i], plan.warmup_frames);
  if (plan.frames.size() > max_rows) print_more(out, plan.frames.size() - max_rows);
}

// A streamed plan's first and last rows, walked again: the plan is never held. A step's
// segments carry its first frame (or the preamble before it); its last one also every
// frame it completes, and the start of the next when it runs past the last of those.
void print_streamed_rows(std::ostream& out, const ReplayPlan& plan, size_t max_rows) {
  const StreamedPlan& s = *plan.streamed;
  const uint64_t head = max_rows, tail = std::min<uint64_t>(max_rows, kStreamedTailRows);
  auto shown = [&](uint64_t index, uint64_t total) { return index < head || index + tail >= total; };
  std::string segment_rows, frame_rows;
  auto append_gap = [&](std::string& rows, uint64_t index, uint64_t total) {
    if (index == head && total > head + tail) rows += fmt::format("{:>8}\n", fmt::format("... {} more", total - head - tail));
  };
  const std::unique_ptr<PlanWalk> walk = walk_plan(s);
  while (walk->next()) {
    const std::vector<PlannedSegment>& segments = walk->segments();
    const std::vector<PlannedFrame>& frames = walk->frames();
    for (size_t k = 0; k < segments.size(); ++k) {
      const uint64_t index = walk->first_segment() + k;
      append_gap(segment_rows, index, s.segments);
      if (!shown(index, s.segments)) continue;
      const PlannedSegment& seg = segments[k];
      uint64_t last = walk->first_frame();
      if (k + 1 == segments.size())
        last += frames.size() - 1 + (seg.offset + seg.length > frames.back().end ? 1 : 0);
      const std::string carried = seg.offset + seg.length <= frames.front().start ? "preamble"
                                  : last == walk->first_frame()
                                      ? fmt::format("{}", last)
                                      : fmt::format("{}-{}", walk->first_frame(), last);
      std::ostringstream row;
      print_segment_row(row, index, seg, carried);
      segment_rows += row.str();
    }
    for (size_t j = 0; j < frames.size(); ++j) {
      const uint64_t index = walk->first_frame() + j;
      append_gap(frame_rows, index, s.frames);
      if (!shown(index, s.frames)) continue;
      std::ostringstream row;
      print_frame_row(row, index, frames[j], plan.warmup_frames);
      frame_rows += row.str();
    }
  }
  fmt::print(out, fmt::runtime(kSegmentHeader), "segment", "offset", "bytes", "send_at_us", "frames");
  out << segment_rows;
  fmt::print(out, fmt::runtime(kFrameHeader), "frame", "start", "end", "segments", "due_us");
  out << frame_rows;
}

}  // namespace

void print_plan(std::ostream& out, const Scenario& sc, const ReplayPlan& plan, size_t max_rows) {
  fmt::print(out, "scenario   {} ({})\n", sc.name, sc.path);
  fmt::print(out, "source     {}\n", plan.source_description);
  fmt::print(out, "framing    {} (prefix {} B{})\n", sc.framing.name, sc.framing.prefix_size(),
             plan.preamble_bytes ? fmt::format(", preamble {} B", plan.preamble_bytes) : "");
  fmt::print(out, "stream     {} bytes, {} frames ({} warm-up), {} segments{}\n", plan.stream_size(),
             plan.frame_count(), plan.warmup_frames, plan.segment_count(),
             plan.streamed ? ", streamed (produced as it is sent, never held)" : "");
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
  if (plan.streamed)
    print_streamed_rows(out, plan, max_rows);
  else
    print_held_rows(out, plan, max_rows);
}

}  // namespace rcvq
