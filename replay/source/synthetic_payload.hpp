#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace rcvq {

// The bytes of synthetic frame bodies: a random block drawn once from the seed, copied
// from a per-frame rotation, its first eight bytes XORed with a per-frame key (a fresh
// key and rotation every block). Generating costs a memcpy, not a random draw or an
// XOR per byte, and a body depends only on (seed, frame index, length), so a streamed
// source can produce any frame without the ones before it. The keys make every frame's
// body differ from every other's: a replayer that sent one frame's bytes in place of
// another's fails the stream hash, even between frames of equal size and rotation.
class SyntheticPayload {
 public:
  explicit SyntheticPayload(uint64_t seed);

  // Writes the body of frame `frame_index` (everything after its prefix).
  void fill(uint64_t frame_index, std::span<uint8_t> body) const;

  // Bytes in the random block.
  static constexpr size_t kBlockBytes = 64 * 1024;

 private:
  uint64_t seed_;
  // The block twice over, so any rotation reads kBlockBytes contiguous bytes.
  std::vector<uint8_t> doubled_block_;
};

}  // namespace rcvq
