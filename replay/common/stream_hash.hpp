#pragma once
#include <cstdint>
#include <span>

namespace rcvq {

// Order-sensitive 64-bit FNV-1a over a byte stream, fed in arbitrary pieces: the
// receiver's hash equals the sender's only if every byte arrived once and in order.
class StreamHash {
 public:
  void update(std::span<const uint8_t> bytes) {
    for (uint8_t b : bytes) state_ = (state_ ^ b) * 0x100000001b3ULL;
  }
  uint64_t value() const { return state_; }

 private:
  uint64_t state_ = 0xcbf29ce484222325ULL;
};

}  // namespace rcvq
