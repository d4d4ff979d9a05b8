#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "report/run_data.hpp"

namespace rcvq {

// A run over several kernels: <run dir>/index.json lists them, each kernel's own
// run.json and .hgrm files live in <run dir>/<label>/.
inline constexpr const char* kKernelIndexFile = "index.json";
inline constexpr const char* kKernelIndexFormat = "rcvqbench-kernels/1";

struct KernelRunEntry {
  std::string label;
  std::string requested;       // the --kernel argument
  std::string bzimage;         // empty for the host
  std::string sha256;          // of the bzImage; empty for the host
  std::string kernel_release;
  std::string accel;           // host | tcg | kvm; empty until the guest has said
  std::optional<bool> timing_comparable;  // with the host's times; unknown until the run says where it ran
  std::string timing_reason;
  std::string status = "pending";  // pending | ok | failed | interrupted
  std::optional<int> exit_code;
  std::string reason;          // why failed or interrupted
  std::string run_json;        // relative to the run dir; empty when none was written
  std::string console_log;     // relative; VM runs only
  double wall_s = 0;
};

struct KernelIndex {
  bool complete = false;  // every kernel ran (ok or failed); false while running or after an interrupt
  std::string started_utc;
  nlohmann::json scenario;  // {name, path}
  std::vector<std::string> modes;
  std::vector<KernelRunEntry> kernels;
};

nlohmann::json to_json(const KernelIndex& index);
// Throws InputError naming `source` when the document is not a kernel index.
KernelIndex kernel_index_from_json(const nlohmann::json& doc, const std::string& source);

// Atomically, like run.json: a reader sees the previous index or the new one.
void write_kernel_index(const std::string& run_dir, const KernelIndex& index);
KernelIndex read_kernel_index(const std::string& run_dir);
bool is_kernel_matrix_dir(const std::string& path);

// A multi-kernel run read back: the index and each kernel's run (none when the kernel
// wrote no run.json).
struct KernelMatrix {
  std::string dir;
  KernelIndex index;
  std::vector<std::optional<LoadedRun>> runs;  // parallel to index.kernels
};
// Throws InputError naming the file on a missing or malformed index or run.json.
KernelMatrix load_kernel_matrix(const std::string& run_dir);

}  // namespace rcvq
