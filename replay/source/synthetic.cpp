#include <algorithm>
#include <cstring>
#include <random>

#include "source/source_stream.hpp"
#include "source/synthetic_payload.hpp"

namespace rcvq {
namespace {

// SplitMix64's finaliser: neighbouring frame indexes get unrelated keys and rotations.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// XORs the first bytes of `body` (up to eight) with `key`: the stretch of the block it
// starts may equal another frame's, the stamped bytes do not.
void stamp(std::span<uint8_t> body, uint64_t key) {
  for (size_t i = 0; i < std::min<size_t>(8, body.size()); ++i) body[i] ^= uint8_t(key >> (8 * i));
}

}  // namespace

SyntheticPayload::SyntheticPayload(uint64_t seed) : seed_(seed), doubled_block_(2 * kBlockBytes) {
  std::mt19937_64 content(seed ^ 0x9e3779b97f4a7c15ULL);
  for (size_t b = 0; b < kBlockBytes; b += 8) {
    const uint64_t word = content();
    std::memcpy(doubled_block_.data() + b, &word, 8);
  }
  std::memcpy(doubled_block_.data() + kBlockBytes, doubled_block_.data(), kBlockBytes);
}

void SyntheticPayload::fill(uint64_t frame_index, std::span<uint8_t> body) const {
  // A body longer than the block takes a fresh key and rotation per block, so no two of
  // its stretches repeat either.
  uint64_t key = mix(seed_ ^ mix(frame_index));
  for (size_t at = 0; at < body.size(); at += kBlockBytes, key = mix(key)) {
    const size_t n = std::min(kBlockBytes, body.size() - at);
    const size_t rotation = size_t(key >> 40) % kBlockBytes;
    std::memcpy(body.data() + at, doubled_block_.data() + rotation, n);
    stamp(body.subspan(at, n), key);
  }
}

void SyntheticFrameWriter::write(uint64_t frame_index, uint64_t header, uint64_t payload,
                                 std::span<uint8_t> out) const {
  framing_.encode_prefix(out.data(), header, payload);
  content_.fill(frame_index, out.subspan(framing_.prefix_size()));
}

SourceStream generate_synthetic(const Scenario& scenario) {
  const SyntheticSource& syn = scenario.source.synthetic;
  const Framing& framing = scenario.framing;
  const SyntheticFrameWriter writer(scenario);
  SourceStream out;
  uint64_t total = framing.preamble.size();
  for_each_synthetic_frame(scenario, [&](uint64_t header, uint64_t payload) { total += writer.frame_bytes(header, payload); });
  // Sized once: growing by doubling would briefly need up to twice the stream.
  out.bytes.reserve(total);
  out.bytes.insert(out.bytes.end(), framing.preamble.begin(), framing.preamble.end());
  uint64_t frame_index = 0;
  for_each_synthetic_frame(scenario, [&](uint64_t header, uint64_t payload) {
    const size_t start = out.bytes.size();
    out.bytes.resize(start + writer.frame_bytes(header, payload));
    writer.write(frame_index++, header, payload, std::span(out.bytes).subspan(start));
  });
  out.description = "synthetic: " + std::to_string(syn.frames) + " " + framing.name + " frames, seed " +
                     std::to_string(syn.seed);
  return out;
}

}  // namespace rcvq
