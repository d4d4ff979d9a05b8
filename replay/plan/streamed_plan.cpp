#include "plan/streamed_plan.hpp"

#include <fmt/format.h>

#include "common/errors.hpp"
#include "common/input_file.hpp"
#include "common/stream_hash.hpp"
#include "plan/plan_estimate.hpp"

namespace rcvq {
namespace {

// Walks the whole plan once for what the run reports and checks; with `hash`, hashes
// its bytes on the way.
ReplayPlan walk_streamed_plan(const Scenario& sc, StreamedPlan streamed, bool hash) {
  ReplayPlan plan;
  plan.preamble_bytes = sc.framing.spec.preamble;
  plan.warmup_frames = sc.run.warmup_frames;
  StreamedPlan& s = plan.streamed.emplace(std::move(streamed));
  s.timeline.first_frame = plan.warmup_frames;
  StreamHash stream_hash;
  const std::unique_ptr<PlanWalk> walk = walk_plan(s);
  while (walk->next()) {
    const PlannedFrame& f = walk->frame();
    const uint64_t index = walk->frame_index();
    if (hash) stream_hash.update(walk->bytes());
    ++s.frames;
    s.segments += walk->segments().size();
    s.stream_bytes = f.end;
    s.largest_frame_bytes = std::max(s.largest_frame_bytes, f.end - f.start);
    s.duration_ns = walk->segments().back().send_at_ns;
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
      const size_t preamble = f.first_segment - walk->first_segment();
      s.timeline.segments.insert(s.timeline.segments.end(), walk->segments().begin() + long(preamble),
                                 walk->segments().end());
    }
  }
  if (hash) s.stream_hash = stream_hash.value();
  if (s.capture) plan.source_description = static_cast<CapturePlanWalk&>(*walk).source_description() + " (streamed)";
  return plan;
}

void check_segment_count(const Scenario& sc, uint64_t segments, bool upper_bound) {
  if (segments > UINT32_MAX)
    throw InputError(fmt::format("{}: the plan has {}{} segments, more than the {} a plan can index: cut the frames "
                                 "into fewer pieces or send fewer frames",
                                 sc.path, upper_bound ? "up to " : "", segments, UINT32_MAX));
}

// `estimate` counts segments and times without cutting a frame: absurd cuts are refused
// before a walk would take minutes over them.
ReplayPlan make_streamed_synthetic_plan(const Scenario& sc, const PlanEstimate& estimate) {
  check_streamed_plan_budget(sc, estimate);
  check_segment_count(sc, estimate.segments, estimate.upper_bound);
  StreamedPlan streamed;
  streamed.scenario = &sc;
  ReplayPlan plan = walk_streamed_plan(sc, std::move(streamed), false);
  const SyntheticSource& syn = sc.source.synthetic;
  plan.source_description = fmt::format("synthetic: {} {} frames, seed {} (streamed)", syn.frames, sc.framing.name, syn.seed);
  return plan;
}

// A capture is read for its plan's figures (and its hash, the bytes being at hand),
// which are then checked as a held plan's are after reading.
ReplayPlan make_streamed_capture_plan(const Scenario& sc) {
  StreamedPlan streamed;
  streamed.scenario = &sc;
  streamed.capture = select_capture_direction(sc.source.capture);
  ReplayPlan plan = walk_streamed_plan(sc, std::move(streamed), true);
  const StreamedPlan& s = *plan.streamed;
  if (s.frames == 0)
    throw InputError(fmt::format("{}: the {} stream holds no complete '{}' frame", sc.path, plan.source_description,
                                 sc.framing.name));
  if (plan.warmup_frames >= s.frames)
    throw InputError(fmt::format("{}: run.warmup_frames {} leaves no frame to measure ({} frames)", sc.path,
                                 plan.warmup_frames, s.frames));
  PlanEstimate estimate;
  estimate.stream_bytes = s.stream_bytes;
  estimate.frames = s.frames;
  estimate.segments = s.segments;
  estimate.duration_s = double(s.duration_ns) / 1e9;
  estimate.largest_frame_bytes = s.largest_frame_bytes;
  estimate.source_keys = "source.capture.max_stream_bytes";
  estimate.timing_keys = "segmentation.frame_gap_us, chunk_gap_us";
  check_streamed_plan_budget(sc, estimate);
  check_segment_count(sc, s.segments, false);
  return plan;
}

}  // namespace

std::string why_plan_cannot_stream(const Scenario& sc) {
  if (sc.transport.kind != Transport::Kind::Loopback && sc.transport.kind != Transport::Kind::Veth)
    return "transport kind loopback or veth (the tap peer keeps every segment for retransmission and packet "
           "effects; a remote receiver host is sent the whole plan)";
  if (sc.segmentation.kind == Segmentation::Kind::AsCaptured)
    return "a per-frame cut, not as_captured (a captured segment may carry several frames)";
  return "";
}

ReplayPlan make_plan(const Scenario& sc, bool whole_plan_needed) {
  using Storage = RunOptions::PlanStorage;
  const bool may_stream = sc.run.plan == Storage::Streamed ||
                          (sc.run.plan == Storage::Auto && why_plan_cannot_stream(sc).empty());
  if (!may_stream) return build_plan(sc, load_source(sc));
  const bool capture = sc.source.kind == Source::Kind::Capture;
  // A capture is judged by the most its file can hold, a synthetic source exactly.
  const PlanEstimate estimate =
      capture ? estimate_capture_reading(sc, regular_file_size(sc.source.capture.path, "capture"))
              : estimate_synthetic_plan(sc);
  // A mode that reads the whole plan keeps it held while it fits the budget; past that
  // the run streams, and that mode alone cannot run.
  const double hold_limit =
      whole_plan_needed ? double(sc.run.max_memory_mb) * double(1 << 20) : kHeldPlanAutoLimitBytes;
  if (sc.run.plan == Storage::Auto && estimate.memory_bytes(sc) <= hold_limit) return build_plan(sc, load_source(sc));
  return capture ? make_streamed_capture_plan(sc) : make_streamed_synthetic_plan(sc, estimate);
}

PlanWalk::PlanWalk(const Scenario& scenario, uint64_t preamble_bytes)
    : schedule_(scenario), preamble_bytes_(preamble_bytes) {}

bool PlanWalk::next() {
  uint64_t length = 0;
  if (!next_frame(length)) return false;
  const uint64_t start = started_ ? frame_.end : preamble_bytes_;
  if (started_) {
    ++index_;
    first_segment_ += segments_.size();
  }
  segments_.clear();
  if (!started_ && start > 0) schedule_.add_preamble(start, segments_);
  started_ = true;
  frame_.start = start;
  frame_.end = start + length;
  frame_.first_segment = uint32_t(first_segment_ + segments_.size());
  schedule_.add_frame(frame_.start, frame_.end, segments_);
  frame_.last_segment = uint32_t(first_segment_ + segments_.size() - 1);
  frame_.due_ns = segments_.back().send_at_ns;
  return true;
}

SyntheticPlanWalk::SyntheticPlanWalk(const Scenario& scenario)
    : PlanWalk(scenario, scenario.framing.preamble.size()),
      scenario_(scenario),
      sizes_(scenario.source.synthetic),
      writer_(scenario) {}

bool SyntheticPlanWalk::next_frame(uint64_t& length) {
  if (!sizes_.next(header_, payload_)) return false;
  length = writer_.frame_bytes(header_, payload_);
  bytes_ready_ = false;
  return true;
}

std::span<const uint8_t> SyntheticPlanWalk::bytes() {
  if (!bytes_ready_) {
    const std::vector<uint8_t>& preamble = scenario_.framing.preamble;
    const size_t before = frame().start - segments().front().offset;  // the preamble, with frame 0
    bytes_.resize(before + (frame().end - frame().start));
    std::copy(preamble.begin(), preamble.begin() + long(before), bytes_.begin());
    writer_.write(frame_index(), header_, payload_, std::span(bytes_).subspan(before));
    bytes_ready_ = true;
  }
  return bytes_;
}

CapturePlanWalk::CapturePlanWalk(const Scenario& scenario, const CaptureDirection& direction)
    : PlanWalk(scenario, scenario.framing.spec.preamble),
      scenario_(scenario),
      kept_(scenario, scenario.framing, direction),
      scanner_(scenario.framing),
      frame_end_(scenario.framing.spec.preamble) {}

bool CapturePlanWalk::next_frame(uint64_t& length) {
  // The bytes of the frame before are sent; frame 0's preamble goes with frame 0.
  if (frame_returned_) {
    pending_.erase(pending_.begin(), pending_.begin() + long(frame_end_ - pending_begin_));
    pending_begin_ = frame_end_;
  }
  while (next_end_ == ends_.size()) {
    ends_.clear();
    next_end_ = 0;
    if (!kept_.next()) return false;
    const std::span<const uint8_t> bytes = kept_.bytes();
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
    scanner_.feed(bytes, ends_);
    // The kept stream is whole frames of this framing: only a preamble rule that the
    // capture's resynchronised start skipped could leave it misaligned.
    if (scanner_.malformed())
      throw InputError(fmt::format("{}: the kept stream of the capture has a malformed '{}' prefix at stream offset {}",
                                   scenario_.path, scenario_.framing.name, scanner_.malformed_at()));
  }
  const uint64_t end = ends_[next_end_++];
  length = end - frame_end_;
  frame_end_ = end;
  frame_returned_ = true;
  return true;
}

std::span<const uint8_t> CapturePlanWalk::bytes() {
  const uint64_t from = segments().front().offset;
  return std::span(pending_).subspan(size_t(from - pending_begin_), size_t(frame().end - from));
}

std::unique_ptr<PlanWalk> walk_plan(const StreamedPlan& plan) {
  if (plan.capture) return std::make_unique<CapturePlanWalk>(*plan.scenario, *plan.capture);
  return std::make_unique<SyntheticPlanWalk>(*plan.scenario);
}

}  // namespace rcvq
