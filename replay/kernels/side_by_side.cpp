#include "kernels/side_by_side.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <ostream>

namespace rcvq {

using json = nlohmann::json;

namespace {

KernelModeCell cell_of(const KernelRunEntry& kernel, const std::optional<LoadedRun>& run, const std::string& mode) {
  KernelModeCell c;
  if (!run) {
    // No run.json: the kernel's own fate is every mode's.
    c.kind = kernel.status == "interrupted" ? KernelModeCell::Kind::kInterrupted
             : kernel.status == "pending"   ? KernelModeCell::Kind::kAbsent
                                            : KernelModeCell::Kind::kFailed;
    c.reason = kernel.reason.empty() ? kernel.status : kernel.reason;
    return c;
  }
  const json& m = run->mode(mode);
  if (!m.is_object()) return c;
  const std::string status = m.value("status", "ok");
  c.reason = m.value("reason", "");
  const json& metrics = run->metrics(mode);
  if (status == "unsupported") {
    c.kind = KernelModeCell::Kind::kUnsupported;
  } else if (status == "not run") {
    c.kind = KernelModeCell::Kind::kInterrupted;
  } else if (status != "ok") {
    c.kind = KernelModeCell::Kind::kFailed;
    if (c.reason.empty()) c.reason = status;
  } else if (!metrics.is_object()) {
    c.kind = KernelModeCell::Kind::kInterrupted;
    c.reason = "stopped before this mode's first repetition ended";
  } else {
    c.kind = KernelModeCell::Kind::kMeasured;
    c.wakeups_per_frame = number_at(metrics, "/wakeups_per_frame");
    c.syscalls_per_frame = number_at(metrics, "/syscalls_per_frame");
    c.predicted = run->predicted(mode);
  }
  return c;
}

std::string number_text(const std::optional<double>& v) { return v ? fmt::format("{:.2f}", *v) : "n/a"; }

}  // namespace

KernelSideBySide kernel_side_by_side(const KernelMatrix& matrix) {
  KernelSideBySide t;
  t.modes = matrix.index.modes;
  for (const auto& run : matrix.runs)
    if (run)
      for (const std::string& m : run->mode_names())
        if (std::find(t.modes.begin(), t.modes.end(), m) == t.modes.end()) t.modes.push_back(m);
  for (size_t k = 0; k < matrix.index.kernels.size(); ++k) {
    t.kernels.push_back(matrix.index.kernels[k].label);
    t.accels.push_back(matrix.index.kernels[k].accel.empty() ? "?" : matrix.index.kernels[k].accel);
  }
  for (const std::string& mode : t.modes) {
    std::vector<KernelModeCell>& row = t.cells.emplace_back();
    for (size_t k = 0; k < matrix.index.kernels.size(); ++k)
      row.push_back(cell_of(matrix.index.kernels[k], matrix.runs[k], mode));
  }
  return t;
}

void print_kernel_side_by_side(std::ostream& out, const KernelSideBySide& t) {
  // Reasons are long and usually shared (autolowat's is the same on every hookless
  // kernel): one numbered note each.
  std::vector<std::string> notes;
  auto note_number = [&](const std::string& reason) {
    auto it = std::find(notes.begin(), notes.end(), reason);
    if (it == notes.end()) it = notes.insert(notes.end(), reason);
    return size_t(it - notes.begin()) + 1;
  };
  std::vector<std::vector<std::string>> text(t.modes.size());
  bool any_predicted = false;
  for (size_t r = 0; r < t.modes.size(); ++r)
    for (const KernelModeCell& c : t.cells[r]) {
      switch (c.kind) {
        case KernelModeCell::Kind::kMeasured:
          text[r].push_back(fmt::format("{} / {}{}", number_text(c.wakeups_per_frame), number_text(c.syscalls_per_frame),
                                        c.predicted ? " *" : ""));
          any_predicted = any_predicted || c.predicted;
          break;
        case KernelModeCell::Kind::kUnsupported:
          text[r].push_back(fmt::format("unsupported [{}]", note_number(c.reason)));
          break;
        case KernelModeCell::Kind::kFailed: text[r].push_back(fmt::format("failed [{}]", note_number(c.reason))); break;
        case KernelModeCell::Kind::kInterrupted:
          text[r].push_back(fmt::format("interrupted [{}]", note_number(c.reason)));
          break;
        case KernelModeCell::Kind::kAbsent: text[r].push_back("-"); break;
      }
    }
  const std::string corner = "wakeups / syscalls per frame";
  size_t first_width = corner.size();
  for (const std::string& m : t.modes) first_width = std::max(first_width, m.size());
  std::vector<size_t> widths;
  for (size_t k = 0; k < t.kernels.size(); ++k) {
    size_t w = std::max(t.kernels[k].size(), t.accels[k].size() + 2);
    for (const auto& row : text) w = std::max(w, row[k].size());
    widths.push_back(w);
  }
  fmt::print(out, "{:<{}}", corner, first_width);
  for (size_t k = 0; k < t.kernels.size(); ++k) fmt::print(out, "  {:>{}}", t.kernels[k], widths[k]);
  fmt::print(out, "\n{:<{}}", "", first_width);
  for (size_t k = 0; k < t.kernels.size(); ++k) fmt::print(out, "  {:>{}}", "(" + t.accels[k] + ")", widths[k]);
  fmt::print(out, "\n");
  for (size_t r = 0; r < t.modes.size(); ++r) {
    fmt::print(out, "{:<{}}", t.modes[r], first_width);
    for (size_t k = 0; k < t.kernels.size(); ++k) fmt::print(out, "  {:>{}}", text[r][k], widths[k]);
    fmt::print(out, "\n");
  }
  for (size_t n = 0; n < notes.size(); ++n) fmt::print(out, "[{}] {}\n", n + 1, notes[n]);
  if (any_predicted) fmt::print(out, "* predicted by the userspace AutoLOWAT model, not measured on that kernel\n");
  if (std::find(t.accels.begin(), t.accels.end(), "tcg") != t.accels.end())
    fmt::print(out, "(tcg): counts hold under QEMU's emulation; that kernel's times (CPU, latency) do not compare "
                    "with the host's\n");
}

}  // namespace rcvq
