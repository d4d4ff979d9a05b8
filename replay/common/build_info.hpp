#pragma once
#include <string>

namespace rcvq {

// What this binary is: set at build time from CMake (project VERSION, `git describe
// --always --dirty` of the source tree, CMAKE_BUILD_TYPE). Commit "unknown" when the
// sources were not a git checkout.
struct BuildInfo {
  const char* version;
  const char* commit;
  const char* build_type;
};

const BuildInfo& build_info();

// "rcvqbench 0.1.0 (commit 1a2b3c4, RelWithDebInfo)"
inline std::string version_text() {
  const BuildInfo& b = build_info();
  return std::string("rcvqbench ") + b.version + " (commit " + b.commit + ", " + b.build_type + ")";
}

}  // namespace rcvq
