#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "scenario/scenario.hpp"
#include "source/synthetic_payload.hpp"

namespace rcvq {

// A segment as the source saw it: where it sits in the byte stream and when it was
// sent (captures) or 0 (synthetic streams have no timing of their own).
struct SourceSegment {
  uint64_t offset = 0;
  uint32_t length = 0;
  int64_t time_ns = 0;  // relative to the first segment
};

// What a source hands to the planner: the byte stream of one direction and, for
// captures, the original segment boundaries and timestamps.
struct SourceStream {
  std::vector<uint8_t> bytes;
  std::vector<SourceSegment> segments;  // empty for synthetic streams
  std::string description;              // one line for the plan printer and run.json
};

// The sizes of a synthetic source's frames in order. They come from a generator of
// their own, seeded by source.synthetic.seed, so changing the payload pattern never
// changes the plan.
class SyntheticFrameSizes {
 public:
  explicit SyntheticFrameSizes(const SyntheticSource& source) : source_(source), draws_(source.seed) {}
  // The next frame's header and payload bytes; false after the last frame.
  bool next(uint64_t& header, uint64_t& payload) {
    if (index_ == source_.frames) return false;
    header = source_.header.draw(draws_, index_);
    payload = source_.payload.draw(draws_, index_);
    ++index_;
    return true;
  }

 private:
  const SyntheticSource& source_;
  std::mt19937_64 draws_;
  uint64_t index_ = 0;
};

// Calls on_frame(header_bytes, payload_bytes) for each synthetic frame in order.
template <typename OnFrame>
void for_each_synthetic_frame(const Scenario& scenario, OnFrame&& on_frame) {
  SyntheticFrameSizes sizes(scenario.source.synthetic);
  for (uint64_t header = 0, payload = 0; sizes.next(header, payload);) on_frame(header, payload);
}

// Writes synthetic frames: prefix (per the framing) + header + payload bytes. Any frame
// can be written without the ones before it, so a streamed replay generates each as it
// sends it and arrives at the bytes generate_synthetic holds.
class SyntheticFrameWriter {
 public:
  explicit SyntheticFrameWriter(const Scenario& scenario)
      : framing_(scenario.framing), content_(scenario.source.synthetic.seed) {}
  uint64_t frame_bytes(uint64_t header, uint64_t payload) const { return framing_.prefix_size() + header + payload; }
  // `out` holds frame_bytes(header, payload) bytes.
  void write(uint64_t frame_index, uint64_t header, uint64_t payload, std::span<uint8_t> out) const;

 private:
  const Framing& framing_;
  SyntheticPayload content_;
};

// Synthetic frames, deterministic for a given seed, held whole. Payload bytes are
// pseudo-random so integrity checks mean something.
SourceStream generate_synthetic(const Scenario& scenario);

// Dispatches on scenario.source.kind.
SourceStream load_source(const Scenario& scenario);

}  // namespace rcvq
