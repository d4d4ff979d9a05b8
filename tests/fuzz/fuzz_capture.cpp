// libFuzzer target: arbitrary bytes as a capture file, through the libpcap reader,
// link/IP/TCP decoding, reassembly, framing auto-detection (inspect), the replay
// extraction with resync, and the streamed as-captured plan walk. Bad input must end in InputError, never a crash or a leak.
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "capture/capture_stream.hpp"
#include "capture/inspect.hpp"
#include "common/errors.hpp"
#include "framing/detect.hpp"
#include "plan/streamed_plan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An anonymous memory file, named through /proc: nothing is left behind when the
  // fuzzer exits, however it exits.
  static const int fd = memfd_create("rcvq-fuzz-capture", MFD_CLOEXEC);
  if (fd < 0) return 0;
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != ssize_t(size)) return 0;
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
  // The same capture streamed: the plan walked as the sender walks it, as captured.
  try {
    scenario.framing = rcvq::resolve_capture_framing(scenario);
    scenario.segmentation.kind = rcvq::Segmentation::Kind::AsCaptured;
    scenario.run.plan = rcvq::RunOptions::PlanStorage::Streamed;
    const rcvq::ReplayPlan plan = rcvq::make_plan(scenario, false);
    const std::unique_ptr<rcvq::PlanWalk> walk = rcvq::walk_plan(*plan.streamed);
    while (walk->next()) (void)walk->bytes();
  } catch (const rcvq::InputError&) {
  }
  return 0;
}
