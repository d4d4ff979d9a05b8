#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "capture/capture_stream.hpp"
#include "framing/framing.hpp"
#include "plan/schedule.hpp"
#include "plan/plan.hpp"
#include "source/source_stream.hpp"

namespace rcvq {

// Why the scenario's plan cannot be streamed ("" when it can): only a kernel-socket
// sender sends the plan's segments in order without keeping them for retransmission.
std::string why_plan_cannot_stream(const Scenario& scenario);

// A plan larger than this is streamed when run.plan is auto and it can be: below it the
// whole plan costs less than a run's fixed memory, above it memory would grow with it.
constexpr double kHeldPlanAutoLimitBytes = 64.0 * (1 << 20);

// The plan a run of `scenario` replays, held or streamed per run.plan; `whole_plan_needed`
// when one of the run's modes reads the whole plan (auto then holds it while it fits
// run.max_memory_mb). Throws
// InputError for input that cannot be planned or exceeds the run's limits.
ReplayPlan make_plan(const Scenario& scenario, bool whole_plan_needed);

// A plan produced a step at a time, bytes included: what a streamed plan's sender
// sends, planned by the schedule a held plan is cut by, so both agree segment for
// segment. A step is the segments up to the next one that completes a frame and the
// frames that segment completes: one frame per step for a per-frame cut; as captured,
// a segment may complete several frames, or none until a large frame's last. Memory is
// one step's segments and bytes.
class PlanWalk {
 public:
  virtual ~PlanWalk() = default;

  // Moves to the next step; false after the last.
  virtual bool next() = 0;
  // The step's segments, indexed from first_segment(); the first step's begin with the
  // preamble's.
  const std::vector<PlannedSegment>& segments() const { return segments_; }
  uint64_t first_segment() const { return first_segment_; }
  // The frames its last segment completes, indexed from first_frame().
  const std::vector<PlannedFrame>& frames() const { return frames_; }
  uint64_t first_frame() const { return first_frame_; }
  // The stream bytes of its segments, from segments().front().offset on.
  virtual std::span<const uint8_t> bytes() = 0;

 protected:
  explicit PlanWalk(uint64_t preamble_bytes) : preamble_bytes_(preamble_bytes) {}
  // Clears the step before, keeping count of its segments and frames.
  void begin_step();
  // One frame of `length` bytes as the step, cut by `schedule` (the first with the
  // preamble's segment before it).
  void plan_frame(PerFrameSchedule& schedule, uint64_t length);
  // Where the next frame starts: after the preamble, then where the last one ended.
  uint64_t next_frame_start() const { return first_frame_ + frames_.size() == 0 ? preamble_bytes_ : stream_end_; }
  // Records the frame [next_frame_start(), end) that segment `last_segment` completes.
  void add_frame(uint64_t end, uint64_t first_segment, uint64_t last_segment);

  const uint64_t preamble_bytes_;
  std::vector<PlannedSegment> segments_;
  std::vector<PlannedFrame> frames_;
  uint64_t first_segment_ = 0, first_frame_ = 0;
  uint64_t stream_end_ = 0;  // of the last frame planned
};

// A synthetic source's plan, every frame generated as it is reached.
class SyntheticPlanWalk final : public PlanWalk {
 public:
  explicit SyntheticPlanWalk(const Scenario& scenario);
  bool next() override;
  std::span<const uint8_t> bytes() override;

 private:
  const Scenario& scenario_;
  PerFrameSchedule schedule_;
  SyntheticFrameSizes sizes_;
  SyntheticFrameWriter writer_;
  uint64_t header_ = 0, payload_ = 0;
  std::vector<uint8_t> bytes_;
  bool bytes_ready_ = false;
};

// A capture's plan, its kept stream read packet by packet (CaptureKeptFrames) and split
// by the scenario's framing as build_plan splits a held stream; cut per frame, or as
// captured, its segments the capture's own.
class CapturePlanWalk final : public PlanWalk {
 public:
  CapturePlanWalk(const Scenario& scenario, const CaptureDirection& direction);
  bool next() override;
  std::span<const uint8_t> bytes() override;
  // Once next() has returned false: the source line of the plan.
  std::string source_description() { return kept_.description(); }

 private:
  // Reads the next kept frame into pending_; false at the end of the kept stream.
  bool read_kept();
  bool next_as_captured();
  // A captured segment is complete: plans it, and the frames its last byte completes.
  void plan_captured_segment(uint64_t end, int64_t time_ns);

  const Scenario& scenario_;
  CaptureKeptFrames kept_;
  FrameScanner scanner_;
  std::deque<uint64_t> ends_;  // frame ends read and not yet planned
  std::vector<uint64_t> found_;
  std::vector<uint8_t> pending_;  // kept bytes from pending_begin_ on
  uint64_t pending_begin_ = 0;
  std::optional<PerFrameSchedule> per_frame_;
  std::optional<CapturedSchedule> captured_;
  // as_captured: the captured segment being read, and the segment the next frame
  // starts in.
  struct OpenSegment {
    uint64_t segment = 0, end = 0;
    int64_t time_ns = 0;
  };
  std::optional<OpenSegment> open_;
  std::deque<KeptPiece> pieces_;  // read and not yet joined into open_
  uint64_t planned_end_ = 0;      // end of the last planned segment
  uint64_t next_frame_first_segment_ = 0;
};

// The walk that produces `plan` again.
std::unique_ptr<PlanWalk> walk_plan(const StreamedPlan& plan);

}  // namespace rcvq
