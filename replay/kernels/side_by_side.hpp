#pragma once
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "kernels/index.hpp"

namespace rcvq {

// What one mode did under one kernel, for the kernels-side-by-side tables.
struct KernelModeCell {
  enum class Kind {
    kMeasured,     // metrics present
    kUnsupported,  // the mode cannot run on that kernel
    kFailed,       // the mode, or the whole kernel's run, failed
    kInterrupted,  // stopped before the mode had measurements
    kAbsent,       // the kernel's run did not include the mode
  } kind = Kind::kAbsent;
  std::optional<double> wakeups_per_frame, syscalls_per_frame;
  bool predicted = false;  // by the userspace model, not measured
  std::string reason;      // for unsupported / failed / interrupted
};

struct KernelSideBySide {
  std::vector<std::string> kernels;  // column labels, in run order
  std::vector<std::string> accels;   // host | tcg | kvm | "?" per column
  std::vector<std::string> modes;    // rows
  std::vector<std::vector<KernelModeCell>> cells;  // [mode][kernel]
};

// Rows: the index's modes, then any others a kernel's run.json has.
KernelSideBySide kernel_side_by_side(const KernelMatrix& matrix);

// rows = modes, columns = kernels: "wakeups / syscalls" per frame, or `unsupported [n]`,
// `failed [n]`, `interrupted [n]` with the numbered reasons below the table.
void print_kernel_side_by_side(std::ostream& out, const KernelSideBySide& table);

}  // namespace rcvq
