#pragma once
#include <cstdint>
#include <string>

#include "scenario/scenario.hpp"
#include "source/source_stream.hpp"

namespace rcvq {

// What a replay plan costs, worked out from the scenario before the plan (or its
// stream) is built, so impossible input is refused with numbers instead of running
// into std::bad_alloc. Counts are exact where the scenario fixes them and maxima where
// it draws them at random (random cuts, tap packet effects, capture file bounds).
struct PlanEstimate {
  uint64_t stream_bytes = 0;
  uint64_t frames = 0;
  uint64_t segments = 0;
  double duration_s = 0;      // one replay of the plan
  uint64_t extra_bytes = 0;   // held while the source is read (a capture's second copy)
  uint64_t largest_frame_bytes = 0;
  bool upper_bound = false;
  std::string source_keys;    // the scenario keys that set the stream's size, for messages
  std::string timing_keys;    // the keys that set the duration

  // The model, in one place so it follows the planner: the stream itself, and per
  // segment its PlannedSegment plus the send timestamp a run records (tap planning
  // holds up to three more copies while it applies packet effects), per frame its
  // PlannedFrame, the end offset split_frames returns and one completion time per
  // connection.
  double memory_bytes(const Scenario& scenario) const;
};

// A synthetic source: draws the frame sizes as the generator will (same seed), cuts
// them as the planner will.
PlanEstimate estimate_synthetic_plan(const Scenario& scenario);

// A capture before it is read: its stream and segments can hold no more than the file.
PlanEstimate estimate_capture_reading(const Scenario& scenario, uint64_t file_bytes);

// A capture once read: its stream's frames (or captured segments) cut as the planner will.
PlanEstimate estimate_captured_plan(const Scenario& scenario, const SourceStream& source);
// The scenario keys that set a capture plan's size and its duration, for the messages.
void name_capture_keys(const Scenario& scenario, PlanEstimate& estimate);

// Throws InputError naming the scenario file, the figures and the key to change when
// the estimate exceeds run.max_memory_mb or run.max_duration_s.
void check_plan_budget(const Scenario& scenario, const PlanEstimate& estimate);
// The same for a streamed plan, whose memory is its window: the largest frame (the
// sender generates a frame whole) and the sender threads' rings.
void check_streamed_plan_budget(const Scenario& scenario, const PlanEstimate& estimate);
// The run.max_duration_s half of both.
void check_plan_duration(const Scenario& scenario, const PlanEstimate& estimate);

}  // namespace rcvq
