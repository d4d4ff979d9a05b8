#pragma once
#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "capture/capture_stream.hpp"
#include "scenario/scenario.hpp"
#include "source/source_stream.hpp"

namespace rcvq {

// Packet-level treatment of a segment; only the tap transport can honour anything
// but None (sockets cannot reorder or duplicate).
enum SegmentFlag : uint32_t {
  kSegNone = 0,
  kSegReordered = 1u << 0,   // sent later than its place in the stream
  kSegDuplicate = 1u << 1,   // exact copy of the segment before it
  kSegOverlap = 1u << 2,     // starts inside data already sent
  kSegDropped = 1u << 3,     // never transmitted (a kSegRetransmit copy follows later)
  kSegRetransmit = 1u << 4,  // the late copy of a dropped segment
};

// Short names of a segment's flags for the plan printer ("" when none).
std::string segment_flags_text(uint32_t flags);

struct PlannedSegment {
  uint64_t offset = 0;   // first stream byte
  uint32_t length = 0;
  int64_t send_at_ns = 0;  // relative to the replay start
  uint32_t flags = kSegNone;
};

struct PlannedFrame {
  uint64_t start = 0;  // first stream byte of the frame (its prefix)
  uint64_t end = 0;    // one past its last byte
  uint32_t first_segment = 0;
  uint32_t last_segment = 0;  // the segment carrying the frame's last byte
  int64_t due_ns = 0;         // scheduled send time of that last byte
};

// A stretch of a streamed plan kept in memory: frames from `first_frame` on and the
// segments that carry them, from `first_segment` on; the frames' segment indexes are
// the whole plan's.
struct PlanExcerpt {
  uint64_t first_frame = 0;
  uint64_t first_segment = 0;
  std::vector<PlannedFrame> frames;
  std::vector<PlannedSegment> segments;
};

// Measured frames whose segments, sends and wakeups the report's timeline shows.
constexpr uint64_t kTimelineFrames = 8;

// What a streamed plan keeps instead of its stream, segments and frames: the totals and
// the stretch the report's timeline shows. The sender regenerates the plan frame by
// frame from the scenario (a PlanWalk) as it sends.
struct StreamedPlan {
  const Scenario* scenario = nullptr;  // planned from; outlives the plan
  std::optional<CaptureDirection> capture;  // the direction a capture source replays
  std::optional<uint64_t> stream_hash;      // when planning read the bytes anyway
  uint64_t stream_bytes = 0, frames = 0, segments = 0, largest_frame_bytes = 0;
  int64_t duration_ns = 0;
  uint64_t first_measured_segment = 0;
  int64_t first_measured_due_ns = 0, last_due_ns = 0;
  std::map<uint32_t, uint64_t> measured_frames_by_segments;
  PlanExcerpt timeline;  // the first measured frames
};

// The pivot of the data flow: deterministic for a scenario and seed, identical for
// every mode of a run, so modes compare on byte-identical input. Held whole, or (when
// `streamed` is set) produced frame by frame during the replay, its vectors empty.
struct ReplayPlan {
  std::vector<uint8_t> stream;
  std::vector<PlannedSegment> segments;
  std::vector<PlannedFrame> frames;
  uint64_t preamble_bytes = 0;
  uint64_t warmup_frames = 0;
  std::string source_description;
  std::optional<StreamedPlan> streamed;

  uint64_t frame_count() const { return streamed ? streamed->frames : frames.size(); }
  uint64_t segment_count() const { return streamed ? streamed->segments : segments.size(); }
  uint64_t stream_size() const { return streamed ? streamed->stream_bytes : stream.size(); }
  double planned_segments_per_frame() const;  // over the measured (post-warm-up) frames
  int64_t duration_ns() const {
    return streamed ? streamed->duration_ns : segments.empty() ? 0 : segments.back().send_at_ns;
  }
  // Measured frames by how many segments carry their bytes.
  std::map<uint32_t, uint64_t> measured_frames_by_segments() const;
  // Planned mean time between consecutive measured frames (0 with fewer than two).
  int64_t measured_frame_period_ns() const;
  // StreamHash of the stream: what every connection's receiver must arrive at. Hashed on
  // the first call (from one thread; the plan is final by then) and kept, so checking
  // every repetition of every mode hashes the stream once, not once each.
  uint64_t stream_hash() const;

 private:
  mutable std::optional<uint64_t> stream_hash_;
};

ReplayPlan build_plan(const Scenario& scenario, SourceStream source);

// Throws InputError when a plan of `frames` frames, from the source `source_description`
// names, has none, or none left after run.warmup_frames.
void check_frames_to_measure(const Scenario& scenario, const std::string& source_description, uint64_t frames);

// Largest TCP payload of one wire packet on the tap transport (MTU minus headers).
uint32_t tap_mss(const Transport& transport);

// tap transport: cuts segments to the MSS, applies segmentation.effects (reorder,
// duplicate, overlap, drop/retransmit, per-segment gaps), then maps every frame to the
// transmission after which all of its bytes have arrived. No-op for other transports.
void apply_packet_effects(const Scenario& scenario, ReplayPlan& plan);

// Human-readable plan: summary, then one line per segment and per frame, the first
// `max_rows` of each (and of a streamed plan the last ones too, at most kStreamedTailRows).
constexpr size_t kStreamedTailRows = 1000;
void print_plan(std::ostream& out, const Scenario& scenario, const ReplayPlan& plan,
                size_t max_rows);

}  // namespace rcvq
