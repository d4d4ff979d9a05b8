#include "plan/streamed_plan.hpp"

#include <fmt/format.h>

#include "common/errors.hpp"
#include "plan/plan_estimate.hpp"

namespace rcvq {
namespace {

// `estimate` counts segments and times without cutting a frame: absurd cuts are refused
// before a walk would take minutes over them.
ReplayPlan make_streamed_plan(const Scenario& sc, const PlanEstimate& estimate) {
  check_streamed_plan_budget(sc, estimate);
  if (estimate.segments > UINT32_MAX)
    throw InputError(fmt::format("{}: the plan has {}{} segments, more than the {} a plan can index: cut the frames "
                                 "into fewer pieces or send fewer frames",
                                 sc.path, estimate.upper_bound ? "up to " : "", estimate.segments, UINT32_MAX));
  ReplayPlan plan;
  plan.preamble_bytes = sc.framing.preamble.size();
  plan.warmup_frames = sc.run.warmup_frames;
  const SyntheticSource& syn = sc.source.synthetic;
  plan.source_description = fmt::format("synthetic: {} {} frames, seed {} (streamed)", syn.frames, sc.framing.name, syn.seed);
  StreamedPlan& s = plan.streamed.emplace();
  s.scenario = &sc;
  s.timeline.first_frame = plan.warmup_frames;
  SyntheticPlanWalk walk(sc);
  while (walk.next()) {
    const PlannedFrame& f = walk.frame();
    const uint64_t index = walk.frame_index();
    ++s.frames;
    s.segments += walk.segments().size();
    s.stream_bytes = f.end;
    s.duration_ns = walk.segments().back().send_at_ns;
    s.last_due_ns = f.due_ns;
    if (index < plan.warmup_frames) continue;
    ++s.measured_frames_by_segments[f.last_segment - f.first_segment + 1];
    if (index == plan.warmup_frames) {
      s.first_measured_segment = f.first_segment;
      s.first_measured_due_ns = f.due_ns;
      s.timeline.first_segment = f.first_segment;
    }
    if (index < plan.warmup_frames + kTimelineFrames) {
      s.timeline.frames.push_back(f);
      const size_t preamble = f.first_segment - walk.first_segment();
      s.timeline.segments.insert(s.timeline.segments.end(), walk.segments().begin() + long(preamble),
                                 walk.segments().end());
    }
  }
  return plan;
}

}  // namespace

std::string why_plan_cannot_stream(const Scenario& sc) {
  if (sc.source.kind != Source::Kind::Synthetic)
    return "a synthetic source (a capture's stream is read whole, to find its frames)";
  if (sc.transport.kind != Transport::Kind::Loopback && sc.transport.kind != Transport::Kind::Veth)
    return "transport kind loopback or veth (the tap peer keeps every segment for retransmission and packet "
           "effects; a remote receiver host is sent the whole plan)";
  if (sc.segmentation.kind == Segmentation::Kind::AsCaptured) return "a per-frame cut, not as_captured";
  return "";
}

ReplayPlan make_plan(const Scenario& sc, bool whole_plan_needed) {
  using Storage = RunOptions::PlanStorage;
  const bool may_stream = sc.run.plan == Storage::Streamed ||
                          (sc.run.plan == Storage::Auto && why_plan_cannot_stream(sc).empty());
  if (!may_stream) return build_plan(sc, load_source(sc));
  const PlanEstimate estimate = estimate_synthetic_plan(sc);
  // A mode that reads the whole plan keeps it held while it fits the budget; past that
  // the run streams, and that mode alone cannot run.
  const double hold_limit =
      whole_plan_needed ? double(sc.run.max_memory_mb) * double(1 << 20) : kHeldPlanAutoLimitBytes;
  if (sc.run.plan == Storage::Auto && estimate.memory_bytes(sc) <= hold_limit) return build_plan(sc, load_source(sc));
  return make_streamed_plan(sc, estimate);
}

SyntheticPlanWalk::SyntheticPlanWalk(const Scenario& scenario)
    : scenario_(scenario), sizes_(scenario.source.synthetic), writer_(scenario), schedule_(scenario) {}

bool SyntheticPlanWalk::next() {
  if (!sizes_.next(header_, payload_)) return false;
  const uint64_t start = started_ ? frame_.end : scenario_.framing.preamble.size();
  if (started_) {
    ++index_;
    first_segment_ += segments_.size();
  }
  segments_.clear();
  if (!started_ && start > 0) schedule_.add_preamble(start, segments_);
  started_ = true;
  frame_.start = start;
  frame_.end = start + writer_.frame_bytes(header_, payload_);
  frame_.first_segment = uint32_t(first_segment_ + segments_.size());
  schedule_.add_frame(frame_.start, frame_.end, segments_);
  frame_.last_segment = uint32_t(first_segment_ + segments_.size() - 1);
  frame_.due_ns = segments_.back().send_at_ns;
  bytes_ready_ = false;
  return true;
}

std::span<const uint8_t> SyntheticPlanWalk::bytes() {
  if (!bytes_ready_) {
    const std::vector<uint8_t>& preamble = scenario_.framing.preamble;
    const size_t before = frame_.start - segments_.front().offset;  // the preamble, with frame 0
    bytes_.resize(before + (frame_.end - frame_.start));
    std::copy(preamble.begin(), preamble.begin() + long(before), bytes_.begin());
    writer_.write(index_, header_, payload_, std::span(bytes_).subspan(before));
    bytes_ready_ = true;
  }
  return bytes_;
}

}  // namespace rcvq
