// libFuzzer target: arbitrary bytes as a stream, cut into segments by the first
// bytes, through every framing preset (FrameScanner, split_frames, preamble rules)
// and the auto-detector.
#include <span>
#include <vector>

#include "common/errors.hpp"
#include "framing/detect.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t segment = 1 + data[0] % 64 * (1 + data[1] % 8);
  const std::span<const uint8_t> stream(data + 2, size - 2);
  rcvq::FramingDetector detector(1 << 20);
  for (size_t at = 0; at < stream.size(); at += segment)
    detector.feed_segment(stream.subspan(at, std::min(segment, stream.size() - at)));
  detector.finish();
  (void)detector.verdict(data[1] & 1);
  for (const std::string& name : rcvq::framing_preset_names()) {
    try {
      const rcvq::Framing framing = rcvq::resolve_preamble(rcvq::framing_preset(name), stream);
      uint64_t trailing = 0;
      (void)rcvq::split_frames(framing, stream, &trailing);
    } catch (const rcvq::InputError&) {
    }
  }
  try {
    (void)rcvq::resolve_framing(rcvq::framing_preset("auto"), stream, "fuzz");
  } catch (const rcvq::InputError&) {
  }
  return 0;
}
