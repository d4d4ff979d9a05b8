#include "report/kernel_report.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <filesystem>
#include <sstream>

#include "common/errors.hpp"
#include "kernels/side_by_side.hpp"
#include "report/metric_specs.hpp"
#include "report/svg.hpp"
#include "results/writer.hpp"

namespace rcvq {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string timing_text(const KernelRunEntry& k) {
  if (!k.timing_comparable) return "unknown";
  return *k.timing_comparable ? "comparable" : "NOT comparable";
}

std::string status_text(const KernelRunEntry& k) {
  std::string s = k.status;
  if (k.exit_code) s += fmt::format(" (exit {})", *k.exit_code);
  if (!k.reason.empty()) s += ": " + k.reason;
  return s;
}

// Modes with metrics under at least one kernel: the ones worth a metric table.
std::vector<size_t> measured_rows(const KernelSideBySide& table) {
  std::vector<size_t> rows;
  for (size_t r = 0; r < table.modes.size(); ++r)
    for (const KernelModeCell& c : table.cells[r])
      if (c.kind == KernelModeCell::Kind::kMeasured) {
        rows.push_back(r);
        break;
      }
  return rows;
}

std::string cell_status(const KernelModeCell& c) {
  switch (c.kind) {
    case KernelModeCell::Kind::kUnsupported: return "unsupported";
    case KernelModeCell::Kind::kFailed: return "failed";
    case KernelModeCell::Kind::kInterrupted: return "interrupted";
    case KernelModeCell::Kind::kAbsent: return "-";
    case KernelModeCell::Kind::kMeasured: return "";
  }
  return "";
}

// One metric of one mode under one kernel: the value, marked when it is a time that is
// not comparable with the host's; the mode's status when it has no metrics there.
std::string metric_cell(const KernelMatrix& matrix, const KernelModeCell& c, size_t kernel, const std::string& mode,
                        const MetricSpec& spec) {
  if (c.kind != KernelModeCell::Kind::kMeasured) return cell_status(c);
  const std::optional<double> v = metric_value(matrix.runs[kernel]->metrics(mode), spec);
  if (!v) return "n/a";
  const bool incomparable = is_timing(spec) && !matrix.runs[kernel]->timing().comparable;
  return fmt::format("{:.{}f}{}", *v, spec.precision, incomparable ? kTimingMark : "");
}

bool any_incomparable_timing(const KernelMatrix& matrix) {
  for (const auto& run : matrix.runs)
    if (run && !run->timing().comparable) return true;
  return false;
}

std::string metric_label(const MetricSpec& spec) {
  return spec.unit.empty() ? spec.label : spec.label + " (" + spec.unit + ")";
}

}  // namespace

void print_kernel_matrix_report(std::ostream& out, const KernelMatrix& matrix) {
  const KernelIndex& index = matrix.index;
  fmt::print(out, "rcvqbench report: {} ({} kernels)\n", (fs::path(matrix.dir) / kKernelIndexFile).string(),
             index.kernels.size());
  fmt::print(out, "{:<10} {} ({})\n", "scenario", index.scenario.value("name", "?"), index.scenario.value("path", "?"));
  fmt::print(out, "{:<10} started {} UTC, {}; modes {}\n", "run", index.started_utc,
             index.complete ? "complete" : "INCOMPLETE", fmt::join(index.modes, ", "));
  fmt::print(out, "\n{:<24} {:<24} {:<8} {:<15} {}\n", "kernel", "release", "accel", "times vs host", "status");
  for (const KernelRunEntry& k : index.kernels)
    fmt::print(out, "{:<24} {:<24} {:<8} {:<15} {}\n", k.label, k.kernel_release, k.accel.empty() ? "?" : k.accel,
               timing_text(k), status_text(k));
  for (const KernelRunEntry& k : index.kernels)
    if (!k.bzimage.empty()) fmt::print(out, "  {}: {} (sha256 {})\n", k.label, k.bzimage, k.sha256);

  const KernelSideBySide table = kernel_side_by_side(matrix);
  fmt::print(out, "\n");
  print_kernel_side_by_side(out, table);

  for (size_t r : measured_rows(table)) {
    const std::string& mode = table.modes[r];
    fmt::print(out, "\n{}\n  {:<26}", mode, "metric");
    for (const std::string& label : table.kernels) fmt::print(out, " {:>18}", label);
    fmt::print(out, "\n");
    for (const MetricSpec& spec : report_metrics()) {
      fmt::print(out, "  {:<26}", metric_label(spec));
      for (size_t k = 0; k < table.kernels.size(); ++k)
        fmt::print(out, " {:>18}", metric_cell(matrix, table.cells[r][k], k, mode, spec));
      fmt::print(out, "\n");
    }
  }
  if (any_incomparable_timing(matrix))
    fmt::print(out, "\n{} time measured in a VM under TCG: not comparable with the host's (counts are)\n", kTimingMark);
}

std::string kernel_matrix_report_html(const KernelMatrix& matrix, const std::vector<std::string>& kernel_report_links) {
  auto esc = xml_escape;
  const KernelIndex& index = matrix.index;
  const std::string name = index.scenario.value("name", "?");
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  h += fmt::format("<title>rcvqbench kernels: {}</title>\n", esc(name));
  h += R"(<style>
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
.predicted { font-style: italic; background: #f6f0fb; }
.bad { color: #b00; } .ok { color: #070; } .incomparable { color: #8a6d00; }
.note { color: #555; font-size: 12px; }
</style></head><body>
)";
  h += fmt::format("<h1>rcvqbench kernels side by side: {}</h1>\n", esc(name));
  h += fmt::format("<p>scenario {} ({}); started {} UTC, {}; modes {}</p>\n", esc(name),
                   esc(index.scenario.value("path", "?")), esc(index.started_utc),
                   index.complete ? "complete" : "<b class=\"bad\">INCOMPLETE</b>", esc(fmt::format("{}", fmt::join(index.modes, ", "))));

  h += "<h2>Kernels</h2>\n<table><tr><th>kernel</th><th>release</th><th>accel</th><th>times vs host</th>"
       "<th>status</th><th>bzImage</th><th>report</th></tr>\n";
  for (size_t i = 0; i < index.kernels.size(); ++i) {
    const KernelRunEntry& k = index.kernels[i];
    const bool comparable = k.timing_comparable.value_or(false);
    const std::string href = i < kernel_report_links.size() ? kernel_report_links[i] : "";
    const std::string link = href.empty() ? "" : fmt::format("<a href=\"{}\">report</a>", esc(href));
    h += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\" title=\"{}\">{}</td><td class=\"{}\">{}</td>"
        "<td>{}</td><td>{}</td></tr>\n",
        esc(k.label), esc(k.kernel_release), esc(k.accel.empty() ? "?" : k.accel), comparable ? "ok" : "incomparable",
        esc(k.timing_reason), esc(timing_text(k)), k.status == "ok" ? "ok" : "bad", esc(status_text(k)),
        esc(k.bzimage.empty() ? "-" : k.bzimage + " (sha256 " + k.sha256 + ")"), link);
  }
  h += "</table>\n";

  const KernelSideBySide table = kernel_side_by_side(matrix);
  h += "<h2>Wakeups / syscalls per frame</h2>\n<table><tr><th>mode</th>";
  for (size_t k = 0; k < table.kernels.size(); ++k)
    h += fmt::format("<th>{}<br><span class=\"note\">{}</span></th>", esc(table.kernels[k]), esc(table.accels[k]));
  h += "</tr>\n";
  for (size_t r = 0; r < table.modes.size(); ++r) {
    h += fmt::format("<tr><th>{}</th>", esc(table.modes[r]));
    for (const KernelModeCell& c : table.cells[r]) {
      if (c.kind == KernelModeCell::Kind::kMeasured) {
        auto number = [](const std::optional<double>& v) { return v ? fmt::format("{:.2f}", *v) : "n/a"; };
        h += fmt::format("<td class=\"num{}\">{} / {}{}</td>", c.predicted ? " predicted" : "", number(c.wakeups_per_frame),
                         number(c.syscalls_per_frame), c.predicted ? " (predicted)" : "");
      } else {
        h += fmt::format("<td class=\"{}\">{}{}</td>", c.kind == KernelModeCell::Kind::kAbsent ? "" : "bad",
                         esc(cell_status(c)), c.reason.empty() ? "" : "<br><span class=\"note\">" + esc(c.reason) + "</span>");
      }
    }
    h += "</tr>\n";
  }
  h += "</table>\n";

  const bool incomparable = any_incomparable_timing(matrix);
  for (size_t r : measured_rows(table)) {
    const std::string& mode = table.modes[r];
    h += fmt::format("<h2>{}</h2>\n<table><tr><th>metric</th>", esc(mode));
    for (const std::string& label : table.kernels) h += fmt::format("<th>{}</th>", esc(label));
    h += "</tr>\n";
    for (const MetricSpec& spec : report_metrics()) {
      h += fmt::format("<tr><th>{}</th>", esc(metric_label(spec)));
      for (size_t k = 0; k < table.kernels.size(); ++k) {
        const std::string text = metric_cell(matrix, table.cells[r][k], k, mode, spec);
        const bool marked = text.ends_with(kTimingMark);
        h += fmt::format("<td class=\"num{}\">{}</td>", marked ? " incomparable" : "", esc(text));
      }
      h += "</tr>\n";
    }
    h += "</table>\n";
  }
  if (incomparable)
    h += fmt::format("<p class=\"incomparable\">{} time measured in a VM under TCG: not comparable with the host's "
                     "(counts are)</p>\n",
                     kTimingMark);
  h += "</body></html>\n";
  return h;
}

ReportFiles write_kernel_matrix_report(const ReportOptions& options, std::ostream& out) {
  const KernelMatrix matrix = load_kernel_matrix(options.results_dir);
  ReportFiles files;
  files.html = options.html_path.empty() ? (fs::path(matrix.dir) / "report.html").string() : options.html_path;
  const fs::path html_dir = fs::absolute(files.html).parent_path();
  // Each kernel's own page (plots included) beside its run.json; the side-by-side page links them.
  std::vector<std::string> links;
  for (size_t i = 0; i < matrix.index.kernels.size(); ++i) {
    links.emplace_back();
    if (!matrix.runs[i]) continue;
    std::ostringstream own_text;  // the side-by-side page below says it all once
    const ReportFiles own = write_report({matrix.runs[i]->dir, ""}, own_text);
    files.svgs.insert(files.svgs.end(), own.svgs.begin(), own.svgs.end());
    links.back() = fs::relative(fs::absolute(own.html), html_dir).string();
    fmt::print(out, "{}: {}\n", matrix.index.kernels[i].label, own.html);
  }
  fmt::print(out, "\n");
  print_kernel_matrix_report(out, matrix);
  write_file_atomic(files.html, kernel_matrix_report_html(matrix, links));
  fmt::print(out, "\nhtml:  {}\n", files.html);
  return files;
}

}  // namespace rcvq
