#include "kernels/kernel_spec.hpp"

#include <sys/utsname.h>

#include <fmt/format.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>

#include "common/errors.hpp"
#include "common/sha256.hpp"

namespace rcvq {
namespace {

namespace fs = std::filesystem;

// x86 boot protocol (Documentation/arch/x86/boot.rst): the setup header's magic and the
// pointer to the version string, which lies at that value + 0x200.
constexpr size_t kHeaderMagicOffset = 0x202;
constexpr size_t kVersionPointerOffset = 0x20E;
constexpr size_t kVersionPointerBase = 0x200;
constexpr size_t kSetupBytes = 0x8000;  // setup code and header never exceed 32 KiB

std::string running_release() {
  utsname u{};
  uname(&u);
  return u.release;
}

// Results subdirectory names come from the image's own bytes: keep them to a safe set.
std::string directory_safe(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool safe = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '+';
    out += safe ? c : '_';
  }
  return out.empty() || out == "." || out == ".." ? "kernel" : out;
}

}  // namespace

std::string bzimage_version_string(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("--kernel {}: cannot be read", path));
  std::string setup(kSetupBytes, '\0');
  in.read(setup.data(), std::streamsize(setup.size()));
  setup.resize(size_t(in.gcount()));
  if (setup.size() < kVersionPointerOffset + 2 || setup.compare(kHeaderMagicOffset, 4, "HdrS") != 0)
    throw InputError(fmt::format("--kernel {}: not a bzImage (no x86 boot header 'HdrS' at 0x202)", path));
  const size_t pointer = uint8_t(setup[kVersionPointerOffset]) | size_t(uint8_t(setup[kVersionPointerOffset + 1])) << 8;
  const size_t start = pointer + kVersionPointerBase;
  if (pointer == 0 || start >= setup.size()) return "";
  const size_t end = setup.find('\0', start);
  return setup.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::vector<KernelChoice> resolve_kernels(const std::vector<std::string>& arguments) {
  std::vector<KernelChoice> kernels;
  for (const std::string& argument : arguments) {
    KernelChoice k;
    k.requested = argument;
    if (argument == kHostKernel) {
      k.host = true;
      k.release = running_release();
      k.label = kHostKernel;
    } else {
      std::error_code ec;
      if (!fs::is_regular_file(argument, ec))
        throw InputError(fmt::format("--kernel {}: no such file (give a bzImage, or `host` for the running kernel)",
                                     argument));
      k.bzimage = fs::canonical(argument, ec).string();
      const std::string version = bzimage_version_string(k.bzimage);
      k.release = version.substr(0, version.find(' '));
      k.sha256 = sha256_of_file(k.bzimage);
      k.label = directory_safe(k.release.empty() ? fs::path(k.bzimage).filename().string() : k.release);
    }
    for (const KernelChoice& earlier : kernels)
      if (earlier.host == k.host && earlier.bzimage == k.bzimage)
        throw InputError(fmt::format("--kernel {}: given twice", argument));
    kernels.push_back(std::move(k));
  }
  std::map<std::string, int> uses;
  for (const KernelChoice& k : kernels) ++uses[k.label];
  for (KernelChoice& k : kernels)
    if (uses[k.label] > 1 && !k.host) k.label += "-" + sha256_hex(k.bzimage).substr(0, 8);
  return kernels;
}

}  // namespace rcvq
