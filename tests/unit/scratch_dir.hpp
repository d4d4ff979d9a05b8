#pragma once
// The stored small results directory the report tests read, fresh scratch
// directories for what they write, and reading a written file back.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace rcvq {

inline const std::string kSmallRun = std::string(RCVQ_SOURCE_DIR) + "/tests/data/report_small";

// An empty <tmp>/<prefix>_<name>_<pid>, emptied first if an earlier run left it.
inline std::filesystem::path scratch_dir(const std::string& prefix, const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / (prefix + "_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The whole file as text ("" when it cannot be read).
inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace rcvq
