#pragma once
#include <string>
#include <vector>

namespace rcvq {

// The word `--kernel host` takes: the running kernel, in-process.
inline constexpr const char* kHostKernel = "host";

// One `--kernel` argument, checked and named.
struct KernelChoice {
  std::string requested;  // as given on the command line
  bool host = false;
  std::string bzimage;    // canonical absolute path; empty for the host
  std::string sha256;     // of the bzImage; empty for the host
  std::string release;    // "6.1.0-57-amd64": the bzImage's own, or uname's for the host
  std::string label;      // unique among the run's kernels; the name of its results subdirectory
};

// The kernel version string a bzImage carries in its setup header ("6.1.0-57-amd64
// (debian-kernel@...) #1 SMP ..."). Throws InputError naming the file when it cannot be
// read or is not a bzImage.
std::string bzimage_version_string(const std::string& path);

// Resolves every argument in order: `host`, or a readable bzImage. Labels are the host's
// "host" and each bzImage's release; releases shared by several images get a short hash
// of the image's path appended. Throws InputError naming the argument for a missing or
// non-bzImage file, or a kernel given twice.
std::vector<KernelChoice> resolve_kernels(const std::vector<std::string>& arguments);

}  // namespace rcvq
