#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "source/source_stream.hpp"

namespace rcvq {

// The flow direction a scenario replays.
struct CaptureDirection {
  uint64_t flow_id = 0;
  int direction = 0;
  std::string label;  // "10.0.0.1:5000 -> 10.0.0.2:80 (client-to-server, client by SYN)"
};

// Reads the whole capture once to size every flow, then applies the scenario's choice.
// Throws InputError naming the file when no flow fits it.
CaptureDirection select_capture_direction(const CaptureSource& source);

// Kept bytes as one captured segment carried them.
struct KeptPiece {
  uint32_t length = 0;
  int64_t time_ns = 0;   // capture time, never earlier than the piece before
  uint64_t segment = 0;  // ordinal of the captured segment: pieces of one are one segment
};

// The selected direction's kept stream, read packet by packet as whole frames: a gap
// stops it or (on_gap: resync) resumes it at the next frame boundary, and the
// incomplete frame a gap or the end interrupts is left out. Memory is the frame being
// read and, after a gap, the boundary search window: not the file.
class CaptureKeptFrames {
 public:
  CaptureKeptFrames(const Scenario& scenario, const Framing& framing, const CaptureDirection& direction);
  ~CaptureKeptFrames();
  CaptureKeptFrames(const CaptureKeptFrames&) = delete;
  CaptureKeptFrames& operator=(const CaptureKeptFrames&) = delete;

  // The next kept frame (the first with the stream's preamble before it); false after
  // the last. Throws InputError naming the file and stream offset.
  bool next();
  // Valid until the next call of next().
  std::span<const uint8_t> bytes() const;
  const std::vector<KeptPiece>& pieces() const;
  // Once next() has returned false: reads the rest of the capture for the direction's
  // totals and says what was kept and why the rest was not.
  std::string description();

 private:
  class Reader;
  std::unique_ptr<Reader> reader_;
};

// The kept stream held whole, with the captured segment boundaries and timestamps
// (relative to the first kept segment). Throws InputError naming the file and packet.
SourceStream capture_stream(const Scenario& scenario);

// The scenario's framing resolved against the selected direction's stream up to its
// first gap: `auto` picks the preset that frames it completely, preamble rules (HTTP/2
// preface, Postgres startup) take the stream's leading bytes. Throws InputError when
// nothing fits. Reads the capture twice; holds no more than a preamble.
Framing resolve_capture_framing(const Scenario& scenario);

}  // namespace rcvq
