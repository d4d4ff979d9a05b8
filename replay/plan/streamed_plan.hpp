#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "capture/capture_stream.hpp"
#include "framing/framing.hpp"
#include "plan/per_frame_schedule.hpp"
#include "plan/plan.hpp"
#include "source/source_stream.hpp"

namespace rcvq {

// Why the scenario's plan cannot be streamed ("" when it can): only a per-frame cut
// plans a frame from its own bytes, and only a kernel-socket sender sends the plan's
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

// A per-frame plan produced frame by frame, bytes included: what a streamed plan's
// sender sends, planned by the one PerFrameSchedule a held plan uses, so both agree
// segment for segment. Memory is one frame's segments and bytes.
class PlanWalk {
 public:
  virtual ~PlanWalk() = default;

  // Moves to the next frame; false after the last.
  bool next();
  uint64_t frame_index() const { return index_; }
  const PlannedFrame& frame() const { return frame_; }
  // The segments that carry this frame, indexed from first_segment(); frame 0's begin
  // with the preamble's.
  const std::vector<PlannedSegment>& segments() const { return segments_; }
  uint64_t first_segment() const { return first_segment_; }
  // The stream bytes of those segments, from segments().front().offset on.
  virtual std::span<const uint8_t> bytes() = 0;

 protected:
  PlanWalk(const Scenario& scenario, uint64_t preamble_bytes);
  // The next frame's length, its prefix included; false after the last.
  virtual bool next_frame(uint64_t& length) = 0;

 private:
  PerFrameSchedule schedule_;
  uint64_t preamble_bytes_;
  uint64_t index_ = 0;
  bool started_ = false;
  uint64_t first_segment_ = 0;
  PlannedFrame frame_;
  std::vector<PlannedSegment> segments_;
};

// A synthetic source's plan, every frame generated as it is reached.
class SyntheticPlanWalk final : public PlanWalk {
 public:
  explicit SyntheticPlanWalk(const Scenario& scenario);
  std::span<const uint8_t> bytes() override;

 private:
  bool next_frame(uint64_t& length) override;

  const Scenario& scenario_;
  SyntheticFrameSizes sizes_;
  SyntheticFrameWriter writer_;
  uint64_t header_ = 0, payload_ = 0;
  std::vector<uint8_t> bytes_;
  bool bytes_ready_ = false;
};

// A capture's plan, its kept stream read packet by packet (CaptureKeptFrames) and split
// by the scenario's framing as build_plan splits a held stream.
class CapturePlanWalk final : public PlanWalk {
 public:
  CapturePlanWalk(const Scenario& scenario, const CaptureDirection& direction);
  std::span<const uint8_t> bytes() override;
  // Once next() has returned false: the source line of the plan.
  std::string source_description() { return kept_.description(); }

 private:
  bool next_frame(uint64_t& length) override;

  const Scenario& scenario_;
  CaptureKeptFrames kept_;
  FrameScanner scanner_;
  std::vector<uint64_t> ends_;  // frame ends the scanner found, from ends_[next_end_] on unread
  size_t next_end_ = 0;
  std::vector<uint8_t> pending_;  // kept bytes from pending_begin_ on
  uint64_t pending_begin_ = 0;
  uint64_t frame_end_;           // of the current frame (the preamble before frame 0)
  bool frame_returned_ = false;
};

// The walk that produces `plan` again.
std::unique_ptr<PlanWalk> walk_plan(const StreamedPlan& plan);

}  // namespace rcvq
