#pragma once
#include "source/source_stream.hpp"

namespace rcvq {

// The selected flow direction of a pcap/pcapng capture, reassembled, with its original
// segment boundaries and timestamps. Throws InputError naming the file and packet.
SourceStream capture_stream(const Scenario& scenario);

}  // namespace rcvq
