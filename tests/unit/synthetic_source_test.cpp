#include <gtest/gtest.h>

#include <set>
#include <string>

#include "common/stream_hash.hpp"
#include "plan/plan.hpp"
#include "scenario/load.hpp"
#include "source/source_stream.hpp"
#include "source/synthetic_payload.hpp"

namespace rcvq {
namespace {

Scenario synthetic(uint64_t frames, const std::string& payload, uint64_t seed) {
  return parse_scenario("source: {synthetic: {frames: " + std::to_string(frames) + ", payload: " + payload +
                            ", seed: " + std::to_string(seed) + "}}\n",
                        "synthetic.yaml");
}

std::vector<uint8_t> body(const SourceStream& s, uint64_t frame, size_t frame_bytes) {
  const size_t at = frame * frame_bytes + 8;  // desc8: fixed-size frames, 8-byte prefix
  return {s.bytes.begin() + ptrdiff_t(at), s.bytes.begin() + ptrdiff_t(at + frame_bytes - 8)};
}

TEST(SyntheticSource, SameSeedSameStreamOtherSeedOtherBytes) {
  const SourceStream a = generate_synthetic(synthetic(50, "{min: 10, max: 3000}", 3));
  EXPECT_EQ(a.bytes, generate_synthetic(synthetic(50, "{min: 10, max: 3000}", 3)).bytes);
  EXPECT_NE(a.bytes, generate_synthetic(synthetic(50, "{min: 10, max: 3000}", 4)).bytes);
}

// Equal-size frames never carry equal bodies, so a replayer that sent one frame in
// place of another changes the stream hash. A rotation alone would repeat bodies here
// (2000 rotations out of 64 Ki collide ~30 times).
TEST(SyntheticSource, NoTwoFramesOfEqualSizeAreEqual) {
  constexpr uint64_t kFrames = 2000;
  const SourceStream s = generate_synthetic(synthetic(kFrames, "64", 1));
  std::set<std::vector<uint8_t>> bodies;
  for (uint64_t f = 0; f < kFrames; ++f) bodies.insert(body(s, f, 72));
  EXPECT_EQ(bodies.size(), kFrames);
}

TEST(SyntheticSource, SwappingTwoEqualSizeFramesChangesTheStreamHash) {
  const SourceStream s = generate_synthetic(synthetic(20, "4000", 1));
  std::vector<uint8_t> swapped = s.bytes;
  std::swap_ranges(swapped.begin() + 3 * 4008, swapped.begin() + 4 * 4008, swapped.begin() + 7 * 4008);
  StreamHash original, reordered;
  original.update(s.bytes);
  reordered.update(swapped);
  EXPECT_NE(original.value(), reordered.value());
}

// A body longer than the random block does not repeat itself block by block.
TEST(SyntheticSource, LongBodiesDoNotRepeatWithTheBlock) {
  constexpr size_t kBlock = SyntheticPayload::kBlockBytes;
  const SourceStream s = generate_synthetic(synthetic(1, std::to_string(3 * kBlock), 1));
  const std::vector<uint8_t> b = body(s, 0, 3 * kBlock + 8);
  EXPECT_FALSE(std::equal(b.begin(), b.begin() + kBlock, b.begin() + kBlock));
  EXPECT_FALSE(std::equal(b.begin() + kBlock, b.begin() + 2 * kBlock, b.begin() + 2 * kBlock));
}

// 100,000 frames outnumber the block's 65,536 rotations, so some start at the same
// rotation: their stamped first bytes still keep every body apart.
TEST(SyntheticSource, FramesOfTheSameRotationDiffer) {
  const SyntheticPayload content(3);
  std::set<uint64_t> bodies;
  for (uint64_t f = 0; f < 100'000; ++f) {
    uint64_t body;
    content.fill(f, std::span(reinterpret_cast<uint8_t*>(&body), sizeof body));
    bodies.insert(body);
  }
  EXPECT_EQ(bodies.size(), 100'000u);
}

// A frame's body depends only on seed, index and length: a source that streams frames
// (or starts in the middle) produces exactly the bytes of the whole stream.
TEST(SyntheticSource, AnyFrameCanBeGeneratedAlone) {
  const SourceStream s = generate_synthetic(synthetic(100, "999", 9));
  const SyntheticPayload content(9);
  for (uint64_t f : {0u, 1u, 57u, 99u}) {
    std::vector<uint8_t> alone(999);
    content.fill(f, alone);
    EXPECT_EQ(alone, body(s, f, 1007)) << "frame " << f;
  }
}

// Every byte value occurs about equally often: the block is random, not a short pattern.
TEST(SyntheticSource, BytesAreSpreadOverEveryValue) {
  const SourceStream s = generate_synthetic(synthetic(256, "4000", 2));
  std::array<uint64_t, 256> count{};
  for (size_t f = 0; f < 256; ++f)
    for (uint8_t b : body(s, f, 4008)) ++count[b];
  const uint64_t expected = 256 * 4000 / 256;
  for (uint64_t c : count) {
    EXPECT_GT(c, expected * 8 / 10);
    EXPECT_LT(c, expected * 12 / 10);
  }
}

TEST(SyntheticSource, PlanStreamHashIsTheStreamHashOfItsBytes) {
  const Scenario sc = synthetic(30, "500", 5);
  const ReplayPlan plan = build_plan(sc, load_source(sc));
  StreamHash h;
  h.update(plan.stream);
  EXPECT_EQ(plan.stream_hash(), h.value());
  const ReplayPlan copy = plan;
  EXPECT_EQ(copy.stream_hash(), h.value());
}

}  // namespace
}  // namespace rcvq
