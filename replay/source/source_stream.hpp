#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "scenario/scenario.hpp"

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

// Calls on_frame(header_bytes, payload_bytes) for each synthetic frame in order, with
// the sizes the generator gives it: they come from a generator of their own, seeded by
// source.synthetic.seed, so changing the payload pattern never changes the plan.
template <typename OnFrame>
void for_each_synthetic_frame(const Scenario& scenario, OnFrame&& on_frame) {
  const SyntheticSource& syn = scenario.source.synthetic;
  std::mt19937_64 sizes(syn.seed);
  for (uint64_t i = 0; i < syn.frames; ++i) {
    const uint64_t header = syn.header.draw(sizes, i);
    const uint64_t payload = syn.payload.draw(sizes, i);
    on_frame(header, payload);
  }
}

// Synthetic frames: prefix (per the framing) + header + payload bytes, deterministic
// for a given seed. Payload bytes are pseudo-random so integrity checks mean something.
SourceStream generate_synthetic(const Scenario& scenario);

// Dispatches on scenario.source.kind.
SourceStream load_source(const Scenario& scenario);

}  // namespace rcvq
