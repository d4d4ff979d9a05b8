#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "plan/per_frame_schedule.hpp"
#include "plan/plan.hpp"
#include "source/source_stream.hpp"

namespace rcvq {

// Why the scenario's plan cannot be streamed ("" when it can): only a synthetic source
// can regenerate any frame on demand, and only a kernel-socket sender sends the plan's
// segments in order without keeping them for retransmission.
std::string why_plan_cannot_stream(const Scenario& scenario);

// A plan larger than this is streamed when run.plan is auto and it can be: below it the
// whole plan costs less than a run's fixed memory, above it memory would grow with it.
constexpr double kHeldPlanAutoLimitBytes = 64.0 * (1 << 20);

// The plan a run of `scenario` replays, held or streamed per run.plan; `whole_plan_needed`
// when one of the run's modes reads the whole plan (auto then holds it while it fits
// run.max_memory_mb). Throws
// InputError for input that cannot be planned or exceeds the run's limits.
ReplayPlan make_plan(const Scenario& scenario, bool whole_plan_needed);

// A synthetic per-frame plan regenerated frame by frame, bytes included: what a
// streamed plan's sender sends. Memory is one frame's segments and bytes.
class SyntheticPlanWalk {
 public:
  explicit SyntheticPlanWalk(const Scenario& scenario);

  // Moves to the next frame; false after the last.
  bool next();
  uint64_t frame_index() const { return index_; }
  const PlannedFrame& frame() const { return frame_; }
  // The segments that carry this frame, indexed from first_segment(); frame 0's begin
  // with the preamble's.
  const std::vector<PlannedSegment>& segments() const { return segments_; }
  uint64_t first_segment() const { return first_segment_; }
  // The stream bytes of those segments, from segments().front().offset on.
  std::span<const uint8_t> bytes();

 private:
  const Scenario& scenario_;
  SyntheticFrameSizes sizes_;
  SyntheticFrameWriter writer_;
  PerFrameSchedule schedule_;
  uint64_t index_ = 0;
  bool started_ = false;
  uint64_t first_segment_ = 0;
  uint64_t header_ = 0, payload_ = 0;
  PlannedFrame frame_;
  std::vector<PlannedSegment> segments_;
  std::vector<uint8_t> bytes_;
  bool bytes_ready_ = false;
};

}  // namespace rcvq
