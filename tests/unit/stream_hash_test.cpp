#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/stream_hash.hpp"

namespace rcvq {
namespace {

std::span<const uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// 5000 bytes, long enough for XXH3's striped path across several 1024-byte blocks.
std::vector<uint8_t> long_stream() {
  std::vector<uint8_t> v(5000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = uint8_t(i * 31 % 251);
  return v;
}

// Reference values from xxhsum 0.8.1 (Debian package xxhash), not from this code:
//   printf '' | xxhsum -H3
//   printf 'rcvqbench' | xxhsum -H3
//   python3 -c "import sys; sys.stdout.buffer.write(bytes((i*31)%251 for i in range(5000)))" | xxhsum -H3
TEST(StreamHash, IsXxh3OfTheStream) {
  EXPECT_EQ(StreamHash().value(), 0x2d06800538d394c2ULL);
  StreamHash word;
  word.update(bytes_of("rcvqbench"));
  EXPECT_EQ(word.value(), 0x6f7e1b46bc0e6e2aULL);
  StreamHash stream;
  stream.update(long_stream());
  EXPECT_EQ(stream.value(), 0xa092d73116291201ULL);
}

TEST(StreamHash, PiecesOfAnySizeHashLikeTheWholeStream) {
  const std::vector<uint8_t> data = long_stream();
  for (size_t piece : {size_t(1), size_t(7), size_t(240), size_t(1024), size_t(4008)}) {
    StreamHash h;
    for (size_t at = 0; at < data.size(); at += piece)
      h.update(std::span(data).subspan(at, std::min(piece, data.size() - at)));
    EXPECT_EQ(h.value(), 0xa092d73116291201ULL) << "pieces of " << piece;
  }
}

// Connection moves copy the hash mid-stream: the copy must go on where the original was.
TEST(StreamHash, ACopyContinuesTheSameStream) {
  const std::vector<uint8_t> data = long_stream();
  StreamHash original;
  original.update(std::span(data).first(3000));
  StreamHash copy = original;
  copy.update(std::span(data).subspan(3000));
  EXPECT_EQ(copy.value(), 0xa092d73116291201ULL);
}

}  // namespace
}  // namespace rcvq
