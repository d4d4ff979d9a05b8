#pragma once
#include <cstdint>
#include <string>

namespace rcvq {

// Size in bytes of `path`, which must be a regular file: a FIFO, a device such as
// /dev/zero or a directory never ends or never parses, so each is refused up front.
// `what` names the file's role in the message ("scenario file", "capture").
// Throws InputError naming the path.
uint64_t regular_file_size(const std::string& path, const std::string& what);

// The whole of a regular file of at most `max_bytes`; a larger one is refused with
// both sizes before any of it is read. Throws InputError naming the path.
std::string read_regular_file(const std::string& path, uint64_t max_bytes, const std::string& what);

}  // namespace rcvq
