// Properties of the built BPF objects that no run on this host would reveal.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>

namespace {

std::string relocations(const std::string& object) {
  const std::string command = "llvm-objdump-14 -r " + std::string(RCVQ_BPF_GEN_DIR) + "/" + object + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  pclose(pipe);
  return out;
}

// Every program that frames by the scenario's spec must read it from .rodata at run
// time. Had clang folded the `= {}` initializer in, the code would see prefix size 0
// whatever the loader wrote — on this host the AutoLOWAT hooks never run, so only the
// object itself can show it.
TEST(BpfObjects, FramingSpecIsReadAtRunTimeNotFoldedAtCompileTime) {
  for (const char* object :
       {"strparser.bpf.o", "autolowat.bpf.o", "autolowat_hooks_live.bpf.o", "autolowat_tcp_ops.bpf.o"}) {
    const std::string relocs = relocations(object);
    ASSERT_NE(relocs.find("RELOCATION RECORDS"), std::string::npos) << object << ": " << relocs;
    EXPECT_NE(relocs.find("framing_spec"), std::string::npos) << object << " never reads framing_spec";
  }
}

}  // namespace
