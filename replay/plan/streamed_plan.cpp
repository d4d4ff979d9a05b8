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
  PlanExcerpt& shown = s.timeline;
  shown.first_frame = plan.warmup_frames;
  StreamHash stream_hash;
  const std::unique_ptr<PlanWalk> walk = walk_plan(s);
  PlannedSegment previous_last;  // of the step before: a step's first frame may start in it
  while (walk->next()) {
    if (hash) stream_hash.update(walk->bytes());
    const std::vector<PlannedSegment>& segments = walk->segments();
    s.segments += segments.size();
    s.duration_ns = segments.back().send_at_ns;
    for (size_t j = 0; j < walk->frames().size(); ++j) {
      const PlannedFrame& f = walk->frames()[j];
      const uint64_t index = walk->first_frame() + j;
      ++s.frames;
      s.stream_bytes = f.end;
      s.largest_frame_bytes = std::max(s.largest_frame_bytes, f.end - f.start);
      s.last_due_ns = f.due_ns;
      if (index < plan.warmup_frames) continue;
      ++s.measured_frames_by_segments[f.last_segment - f.first_segment + 1];
      if (index == plan.warmup_frames) {
        s.first_measured_segment = f.first_segment;
        s.first_measured_due_ns = f.due_ns;
        shown.first_segment = f.first_segment;
      }
      if (index < plan.warmup_frames + kTimelineFrames) shown.frames.push_back(f);
    }
    // The timeline's segments: from its first frame's first through its last frame's last.
    if (!shown.frames.empty()) {
      const uint64_t last = shown.frames.size() == kTimelineFrames ? shown.frames.back().last_segment : UINT64_MAX;
      if (shown.segments.empty() && shown.first_segment < walk->first_segment()) shown.segments.push_back(previous_last);
      for (size_t k = 0; k < segments.size(); ++k) {
        const uint64_t index = walk->first_segment() + k;
        if (index >= shown.first_segment && index <= last) shown.segments.push_back(segments[k]);
      }
    }
    previous_last = segments.back();
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
  check_frames_to_measure(sc, plan.source_description, s.frames);
  PlanEstimate estimate;
  estimate.stream_bytes = s.stream_bytes;
  estimate.frames = s.frames;
  estimate.segments = s.segments;
  estimate.duration_s = double(s.duration_ns) / 1e9;
  estimate.largest_frame_bytes = s.largest_frame_bytes;
  name_capture_keys(sc, estimate);
  check_streamed_plan_budget(sc, estimate);
  check_segment_count(sc, s.segments, false);
  return plan;
}

}  // namespace

std::string why_plan_cannot_stream(const Scenario& sc) {
  if (sc.transport.kind != Transport::Kind::Loopback && sc.transport.kind != Transport::Kind::Veth)
    return "transport kind loopback or veth (the tap peer keeps every segment for retransmission and packet "
           "effects; a remote receiver host is sent the whole plan)";
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

void PlanWalk::begin_step() {
  first_segment_ += segments_.size();
  first_frame_ += frames_.size();
  segments_.clear();
  frames_.clear();
}

void PlanWalk::plan_frame(PerFrameSchedule& schedule, uint64_t length) {
  const uint64_t start = next_frame_start();
  if (first_frame_ == 0 && start > 0) schedule.add_preamble(start, segments_);
  const uint64_t first = first_segment_ + segments_.size();
  schedule.add_frame(start, start + length, segments_);
  add_frame(start + length, first, first_segment_ + segments_.size() - 1);
}

void PlanWalk::add_frame(uint64_t end, uint64_t first_segment, uint64_t last_segment) {
  const int64_t due_ns = segments_[last_segment - first_segment_].send_at_ns;
  frames_.push_back({next_frame_start(), end, uint32_t(first_segment), uint32_t(last_segment), due_ns});
  stream_end_ = end;
}

SyntheticPlanWalk::SyntheticPlanWalk(const Scenario& scenario)
    : PlanWalk(scenario.framing.preamble.size()),
      scenario_(scenario),
      schedule_(scenario),
      sizes_(scenario.source.synthetic),
      writer_(scenario) {}

bool SyntheticPlanWalk::next() {
  begin_step();
  if (!sizes_.next(header_, payload_)) return false;
  plan_frame(schedule_, writer_.frame_bytes(header_, payload_));
  bytes_ready_ = false;
  return true;
}

std::span<const uint8_t> SyntheticPlanWalk::bytes() {
  if (!bytes_ready_) {
    const PlannedFrame& frame = frames_.front();
    const std::vector<uint8_t>& preamble = scenario_.framing.preamble;
    const size_t before = frame.start - segments_.front().offset;  // the preamble, with frame 0
    bytes_.resize(before + (frame.end - frame.start));
    std::copy(preamble.begin(), preamble.begin() + long(before), bytes_.begin());
    writer_.write(first_frame_, header_, payload_, std::span(bytes_).subspan(before));
    bytes_ready_ = true;
  }
  return bytes_;
}

CapturePlanWalk::CapturePlanWalk(const Scenario& scenario, const CaptureDirection& direction)
    : PlanWalk(scenario.framing.spec.preamble),
      scenario_(scenario),
      kept_(scenario, scenario.framing, direction),
      scanner_(scenario.framing) {
  if (scenario.segmentation.kind == Segmentation::Kind::AsCaptured)
    captured_.emplace(scenario);
  else
    per_frame_.emplace(scenario);
}

bool CapturePlanWalk::read_kept() {
  if (!kept_.next()) return false;
  const std::span<const uint8_t> bytes = kept_.bytes();
  pending_.insert(pending_.end(), bytes.begin(), bytes.end());
  found_.clear();
  scanner_.feed(bytes, found_);
  // The kept stream is whole frames of this framing: only a preamble rule that the
  // capture's resynchronised start skipped could leave it misaligned.
  if (scanner_.malformed())
    throw InputError(fmt::format("{}: the kept stream of the capture has a malformed '{}' prefix at stream offset {}",
                                 scenario_.path, scenario_.framing.name, scanner_.malformed_at()));
  ends_.insert(ends_.end(), found_.begin(), found_.end());
  if (captured_) pieces_.insert(pieces_.end(), kept_.pieces().begin(), kept_.pieces().end());
  return true;
}

bool CapturePlanWalk::next() {
  // The step before is sent: its bytes are done with.
  if (!segments_.empty()) {
    const uint64_t sent = segments_.back().offset + segments_.back().length;
    pending_.erase(pending_.begin(), pending_.begin() + long(sent - pending_begin_));
    pending_begin_ = sent;
  }
  begin_step();
  if (captured_) return next_as_captured();
  while (ends_.empty())
    if (!read_kept()) return false;
  const uint64_t end = ends_.front();
  ends_.pop_front();
  plan_frame(*per_frame_, end - next_frame_start());
  return true;
}

bool CapturePlanWalk::next_as_captured() {
  while (frames_.empty()) {
    if (pieces_.empty() && !read_kept()) {
      // The stream's last segment ends with its last frame.
      if (!open_) return false;
      plan_captured_segment(open_->end, open_->time_ns);
      open_.reset();
      return !frames_.empty();
    }
    if (pieces_.empty()) continue;
    const KeptPiece piece = pieces_.front();
    pieces_.pop_front();
    if (open_ && open_->segment == piece.segment) {
      open_->end += piece.length;
      continue;
    }
    if (open_) plan_captured_segment(open_->end, open_->time_ns);
    open_ = OpenSegment{piece.segment, planned_end_ + piece.length, piece.time_ns};
  }
  return true;
}

void CapturePlanWalk::plan_captured_segment(uint64_t end, int64_t time_ns) {
  const uint64_t index = first_segment_ + segments_.size();
  segments_.push_back({planned_end_, uint32_t(end - planned_end_), captured_->next(time_ns), kSegNone});
  planned_end_ = end;
  while (!ends_.empty() && ends_.front() <= end) {
    add_frame(ends_.front(), next_frame_first_segment_, index);
    ends_.pop_front();
    next_frame_first_segment_ = index;
  }
  // A segment that ends where the next frame starts does not carry it.
  if (end <= next_frame_start()) next_frame_first_segment_ = index + 1;
}

std::span<const uint8_t> CapturePlanWalk::bytes() {
  const uint64_t from = segments_.front().offset, to = segments_.back().offset + segments_.back().length;
  return std::span(pending_).subspan(size_t(from - pending_begin_), size_t(to - from));
}

std::unique_ptr<PlanWalk> walk_plan(const StreamedPlan& plan) {
  if (plan.capture) return std::make_unique<CapturePlanWalk>(*plan.scenario, *plan.capture);
  return std::make_unique<SyntheticPlanWalk>(*plan.scenario);
}

}  // namespace rcvq
