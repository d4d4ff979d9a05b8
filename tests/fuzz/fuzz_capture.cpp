// libFuzzer target: arbitrary bytes as a capture file, through the libpcap reader,
// link/IP/TCP decoding, reassembly, framing auto-detection (inspect) and the replay
// extraction with resync. Bad input must end in InputError, never a crash or a leak.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "capture/capture_stream.hpp"
#include "capture/inspect.hpp"
#include "common/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/dev/shm/rcvq-fuzz-capture-" + std::to_string(getpid()) + ".pcap";
  FILE* out = std::fopen(path.c_str(), "wb");
  if (!out) return 0;
  std::fwrite(data, 1, size, out);
  std::fclose(out);
  rcvq::InspectOptions options;
  options.path = path;
  options.max_flows = 64;
  options.max_pending_bytes = 1 << 16;
  try {
    (void)rcvq::inspect_capture(options);
  } catch (const rcvq::InputError&) {
  }
  rcvq::Scenario scenario;
  scenario.source.kind = rcvq::Source::Kind::Capture;
  scenario.source.capture.path = path;
  scenario.source.capture.on_gap = rcvq::CaptureSource::OnGap::Resync;
  scenario.source.capture.max_flows = 64;
  scenario.source.capture.max_pending_bytes = 1 << 16;
  scenario.source.capture.max_stream_bytes = 1 << 20;
  scenario.framing = rcvq::framing_preset("auto");
  try {
    (void)rcvq::capture_stream(scenario);
  } catch (const rcvq::InputError&) {
  }
  return 0;
}
