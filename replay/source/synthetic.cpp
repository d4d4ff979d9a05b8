#include <random>

#include "source/source_stream.hpp"

namespace rcvq {

SourceStream generate_synthetic(const Scenario& scenario) {
  const SyntheticSource& syn = scenario.source.synthetic;
  const Framing& framing = scenario.framing;
  SourceStream out;
  uint64_t total = framing.preamble.size();
  for_each_synthetic_frame(scenario, [&](uint64_t header, uint64_t payload) {
    total += framing.prefix_size() + header + payload;
  });
  // Sized once: growing by doubling would briefly need up to twice the stream.
  out.bytes.reserve(total);
  out.bytes.insert(out.bytes.end(), framing.preamble.begin(), framing.preamble.end());
  std::mt19937_64 content(syn.seed ^ 0x9e3779b97f4a7c15ULL);
  for_each_synthetic_frame(scenario, [&](uint64_t header, uint64_t payload) {
    const size_t start = out.bytes.size();
    out.bytes.resize(start + framing.prefix_size() + header + payload);
    framing.encode_prefix(out.bytes.data() + start, header, payload);
    for (size_t b = start + framing.prefix_size(); b < out.bytes.size(); b += 8) {
      const uint64_t word = content();
      for (size_t k = 0; k < 8 && b + k < out.bytes.size(); ++k) out.bytes[b + k] = uint8_t(word >> (8 * k));
    }
  });
  out.description = "synthetic: " + std::to_string(syn.frames) + " " + framing.name + " frames, seed " +
                     std::to_string(syn.seed);
  return out;
}

}  // namespace rcvq
