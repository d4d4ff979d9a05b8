#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rcvq {

// SHA-256 (FIPS 180-4), enough to name a kernel image by its content without pulling
// in a crypto library.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::string hex_digest();  // finishes; the object is spent afterwards

 private:
  void compress(const uint8_t* block);
  uint32_t state_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string sha256_hex(std::string_view data);
// Hex digest of a file's content; throws InputError naming the file when unreadable.
std::string sha256_of_file(const std::string& path);

}  // namespace rcvq
