#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "plan/plan.hpp"
#include "scenario/scenario.hpp"

namespace rcvq {

// A per-frame segmentation (every cut but as_captured) applied one frame at a time: the
// one definition of which segments a frame is sent in and when. build_plan runs it over
// a held stream; a streamed plan runs it as the sender goes, so both plans agree
// segment for segment.
class PerFrameSchedule {
 public:
  explicit PerFrameSchedule(const Scenario& scenario);

  // The preamble's own segment at time 0; call before the first frame, if at all.
  void add_preamble(uint64_t bytes, std::vector<PlannedSegment>& out);
  // Appends the segments of the next frame, stream bytes [start, end), to `out`.
  void add_frame(uint64_t start, uint64_t end, std::vector<PlannedSegment>& out);

 private:
  int64_t after(double gap_us, const char* key) const;

  const Scenario& scenario_;
  std::mt19937_64 random_cuts_;
  int64_t t_ = 0;
  bool started_ = false;  // a segment was planned: the next frame waits frame_gap_us
  std::vector<uint64_t> chunks_;
};

// cut: as_captured, applied one captured segment at a time: each is sent the capture's
// gap after the one before, times segmentation.time_scale, capped at max_gap_us; the
// first at 0. The one definition a held and a streamed plan are timed by.
class CapturedSchedule {
 public:
  explicit CapturedSchedule(const Scenario& scenario) : scenario_(scenario) {}
  // The send time of the next captured segment, captured at `time_ns`.
  int64_t next(int64_t time_ns);

 private:
  const Scenario& scenario_;
  bool started_ = false;
  int64_t t_ = 0, previous_time_ns_ = 0;
};

}  // namespace rcvq
