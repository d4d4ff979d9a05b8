#include <gtest/gtest.h>

#include "common/errors.hpp"
#include "scenario/load.hpp"

namespace rcvq {
namespace {

std::string error_of(const std::string& yaml) {
  try {
    parse_scenario(yaml, "bad.yaml");
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Scenario, DefaultsAreDocumentedOnes) {
  Scenario sc = parse_scenario("name: d\n", "d.yaml");
  EXPECT_EQ(sc.framing.name, "desc8");
  EXPECT_EQ(sc.source.synthetic.frames, 100u);
  EXPECT_EQ(sc.segmentation.kind, Segmentation::Kind::Whole);
  EXPECT_TRUE(sc.segmentation.nodelay);
  EXPECT_EQ(sc.transport.kind, Transport::Kind::Loopback);
  EXPECT_EQ(sc.receiver.modes, (std::vector<std::string>{"baseline", "lowat-user"}));
  EXPECT_FALSE(sc.receiver.edge_triggered);
  EXPECT_EQ(sc.run.repetitions, 3u);
}

TEST(Scenario, NameIsTakenFromTheFileWhenAbsent) {
  EXPECT_EQ(parse_scenario("run: {repetitions: 1}\n", "configs/my-test.yaml").name, "my-test");
}

TEST(Scenario, UnknownKeyNamesLineColumnAndKey) {
  const std::string e = error_of("name: x\nsegmentation:\n  cut: whole\n  chunk_gapus: 5\n");
  EXPECT_NE(e.find("bad.yaml:4:3"), std::string::npos) << e;
  EXPECT_NE(e.find("segmentation.chunk_gapus"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key"), std::string::npos) << e;
}

TEST(Scenario, WrongTypeNamesTheValuePosition) {
  const std::string e = error_of("source:\n  synthetic:\n    frames: lots\n");
  EXPECT_NE(e.find("bad.yaml:3:13"), std::string::npos) << e;
  EXPECT_NE(e.find("source.synthetic.frames"), std::string::npos) << e;
}

TEST(Scenario, ImpossibleValuesAreRejected) {
  EXPECT_NE(error_of("transport: {kind: veth, mtu: 100}\n").find("transport.mtu"), std::string::npos);
  EXPECT_NE(error_of("transport: {kind: carrier-pigeon}\n").find("transport.kind"), std::string::npos);
  EXPECT_NE(error_of("receiver: {modes: [baseline, magic]}\n").find("unknown mode 'magic'"), std::string::npos);
  EXPECT_NE(error_of("segmentation: {cut: {random: {min: 9, max: 3}}}\n").find("below min"), std::string::npos);
  EXPECT_NE(error_of("segmentation: {cut: {split-descriptor: 8}}\n").find("inside the 8-byte prefix"),
            std::string::npos);
  EXPECT_NE(error_of("segmentation: {cut: as-captured}\n").find("needs a capture source"), std::string::npos);
  EXPECT_NE(error_of("segmentation: {cut: {fixed: 10, chunks: 3}}\n").find("exactly one"), std::string::npos);
  EXPECT_NE(error_of("source: {synthetic: {frames: 5}}\nrun: {warmup_frames: 5}\n").find("warmup"),
            std::string::npos);
  EXPECT_NE(error_of("framing: nonsense\n").find("unknown framing preset"), std::string::npos);
}

TEST(Scenario, SyntaxErrorsCarryTheirPosition) {
  const std::string e = error_of("name: x\nsource: {synthetic: [\n");
  EXPECT_NE(e.find("bad.yaml:"), std::string::npos) << e;
  EXPECT_NE(e.find("YAML syntax error"), std::string::npos) << e;
}

TEST(Scenario, CustomFramingIsCheckedAgainstItsPrefix) {
  Scenario sc = parse_scenario(
      "framing: {prefix: 6, fields: [{offset: 2, width: 4, endian: little}], includes_prefix: true}\n", "c.yaml");
  EXPECT_EQ(sc.framing.name, "custom");
  EXPECT_EQ(sc.framing.spec.fields[0].offset, 2u);
  EXPECT_FALSE(sc.framing.spec.fields[0].big_endian);
  const std::string e = error_of("framing: {prefix: 4, fields: [{offset: 2, width: 4}]}\n");
  EXPECT_NE(e.find("ends past the 4-byte prefix"), std::string::npos) << e;
  EXPECT_NE(error_of("framing: {prefix: 4, fields: [{offset: 0, width: 5}]}\n").find("width 5"), std::string::npos);
}

TEST(Scenario, SizesAcceptFixedRangeAndList) {
  Scenario sc = parse_scenario(
      "source: {synthetic: {header: {min: 10, max: 20}, payload: [1, 2, 3]}}\n", "s.yaml");
  EXPECT_EQ(sc.source.synthetic.header.kind, SizeDist::Kind::Uniform);
  EXPECT_EQ(sc.source.synthetic.header.max, 20u);
  EXPECT_EQ(sc.source.synthetic.payload.kind, SizeDist::Kind::List);
  EXPECT_EQ(sc.source.synthetic.payload.largest(), 3u);
}

TEST(Scenario, ThreadsArePinnedOnlyWhenACpuIsGiven) {
  const Scenario unpinned = parse_scenario("name: u\n", "u.yaml");
  EXPECT_TRUE(unpinned.receiver.cpu.cpus.empty());
  EXPECT_FALSE(unpinned.sender.cpu.for_thread(0));
  const Scenario pinned = parse_scenario("receiver: {cpu: 1}\nsender: {cpu: 0}\n", "p.yaml");
  EXPECT_EQ(pinned.receiver.cpu.for_thread(0), 1u);
  EXPECT_EQ(pinned.receiver.cpu.for_thread(3), 1u) << "one CPU pins every thread";
  EXPECT_EQ(pinned.sender.cpu.for_thread(0), 0u);
  EXPECT_NE(error_of("receiver: {cpu: -1}\n").find("receiver.cpu"), std::string::npos);
  EXPECT_NE(error_of("sender: {cpu: 1024}\n").find("sender.cpu"), std::string::npos);
  EXPECT_NE(error_of("sender: {cpu: first}\n").find("sender.cpu"), std::string::npos);
  EXPECT_NE(error_of("sender: {cpus: 0}\n").find("unknown key"), std::string::npos);
  // A list spreads the threads over its CPUs in turn.
  const Scenario spread = parse_scenario("receiver: {cpu: [1, 0], connections: 4, threads: 3}\n", "s.yaml");
  EXPECT_EQ(spread.receiver.cpu.for_thread(0), 1u);
  EXPECT_EQ(spread.receiver.cpu.for_thread(1), 0u);
  EXPECT_EQ(spread.receiver.cpu.for_thread(2), 1u);
  EXPECT_NE(error_of("receiver: {cpu: [0, x]}\n").find("receiver.cpu"), std::string::npos);
  EXPECT_NE(error_of("receiver: {cpu: []}\n").find("empty list"), std::string::npos);
}

}  // namespace
}  // namespace rcvq
