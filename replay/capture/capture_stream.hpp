#pragma once
#include "source/source_stream.hpp"

namespace rcvq {

// The selected flow direction of a pcap/pcapng capture, reassembled, with its original
// segment boundaries and timestamps. Throws InputError naming the file and packet.
SourceStream capture_stream(const Scenario& scenario);

// The scenario's framing resolved against the selected direction's stream: `auto`
// picks the preset that frames it completely, preamble rules (HTTP/2 preface, Postgres
// startup) take the stream's leading bytes. Throws InputError when nothing fits.
Framing resolve_capture_framing(const Scenario& scenario);

}  // namespace rcvq
