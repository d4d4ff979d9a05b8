#include <gtest/gtest.h>

#include "common/errors.hpp"
#include "framing/framing.hpp"
#include "scenario/load.hpp"
#include "source/source_stream.hpp"

namespace rcvq {
namespace {

Scenario synthetic_scenario(const std::string& framing, const std::string& header,
                            const std::string& payload) {
  return parse_scenario("framing: " + framing + "\nsource:\n  synthetic:\n    frames: 50\n    header: " +
                            header + "\n    payload: " + payload + "\n    seed: 7\n",
                        "test.yaml");
}

// Every preset: frames written by the generator are found again, at the same offsets,
// by the scanner fed one byte at a time and by split_frames in one go.
TEST(Framing, EveryPresetRoundTripsGeneratorToScanner) {
  for (const std::string& name : framing_preset_names()) {
    SCOPED_TRACE(name);
    const uint64_t header = name == "dns-tcp" ? 10 : 20;
    Scenario sc = synthetic_scenario(name, std::to_string(header), "{min: 0, max: 300}");
    SourceStream src = generate_synthetic(sc);
    std::vector<uint64_t> whole = split_frames(sc.framing, src.bytes);
    ASSERT_EQ(whole.size(), 50u);
    EXPECT_EQ(whole.back(), src.bytes.size());

    FrameScanner scanner(sc.framing);
    std::vector<uint64_t> bytewise;
    for (uint8_t b : src.bytes) scanner.feed(std::span<const uint8_t>(&b, 1), bytewise);
    EXPECT_EQ(bytewise, whole);
    EXPECT_FALSE(scanner.malformed());
  }
}

TEST(Framing, Desc8FrameLengthIsPrefixPlusBothFields) {
  Framing f = framing_preset("desc8");
  const uint8_t prefix[8] = {100, 0, 0, 0, 150, 0, 0, 0};
  EXPECT_EQ(f.frame_length(prefix), 258u);  // the upstream selftest's 100/150 frame
}

TEST(Framing, BigEndianAndSelfCountingPresets) {
  const uint8_t kafka[4] = {0, 0, 1, 0};
  EXPECT_EQ(framing_preset("kafka").frame_length(kafka), 4u + 256u);
  const uint8_t mongo[4] = {0x10, 0x01, 0, 0};  // 272, counts itself
  EXPECT_EQ(framing_preset("mongodb").frame_length(mongo), 272u);
  const uint8_t pg[5] = {'Q', 0, 0, 0, 8};  // length 8 counts itself, not the type byte
  EXPECT_EQ(framing_preset("postgres").frame_length(pg), 9u);
  const uint8_t tls[5] = {0x17, 3, 3, 0x10, 0x00};
  EXPECT_EQ(framing_preset("tls").frame_length(tls), 5u + 4096u);
  const uint8_t mysql[4] = {0x2c, 0, 0, 1};
  EXPECT_EQ(framing_preset("mysql").frame_length(mysql), 4u + 44u);
}

TEST(Framing, LengthShorterThanPrefixIsMalformed) {
  Framing f = framing_preset("mongodb");
  const uint8_t bad[4] = {2, 0, 0, 0};
  EXPECT_EQ(f.frame_length(bad), 0u);
  std::vector<uint8_t> stream = {2, 0, 0, 0, 9, 9};
  EXPECT_THROW(split_frames(f, stream), InputError);
}

TEST(Framing, BytesMissingTracksPrefixThenBody) {
  Framing f = framing_preset("desc8");
  FrameScanner s(f);
  std::vector<uint64_t> ends;
  EXPECT_EQ(s.bytes_missing(), 8u);
  const uint8_t first[3] = {100, 0, 0};
  s.feed(first, ends);
  EXPECT_EQ(s.bytes_missing(), 5u);
  const uint8_t rest[5] = {0, 150, 0, 0, 0};
  s.feed(rest, ends);
  EXPECT_EQ(s.bytes_missing(), 250u);
}

TEST(Framing, Http2PrefaceIsSkippedBeforeTheFirstFrame) {
  Framing f = framing_preset("http2");
  std::vector<uint8_t> stream = f.preamble;
  const uint8_t settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};  // empty SETTINGS frame
  stream.insert(stream.end(), settings, settings + 9);
  std::vector<uint64_t> ends = split_frames(f, stream);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0], 24u + 9u);
}

TEST(Framing, GeneratorRefusesLengthsTheFieldCannotHold) {
  EXPECT_THROW(generate_synthetic(synthetic_scenario("dns-tcp", "0", "70000")), InputError);
}

}  // namespace
}  // namespace rcvq
