#include "report/report.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <filesystem>
#include <iostream>

#include "common/errors.hpp"
#include "kernels/index.hpp"
#include "report/kernel_report.hpp"
#include "report/metric_specs.hpp"
#include "report/plots.hpp"
#include "report/svg.hpp"
#include "report/verdict.hpp"
#include "results/writer.hpp"

namespace rcvq {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string text_of(const json& j, const std::string& pointer, const std::string& fallback = "?") {
  const json::json_pointer ptr(pointer);
  if (!j.is_object() || !j.contains(ptr)) return fallback;
  const json& v = j[ptr];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return fallback;
  return v.dump();
}

// Context lines every page starts with: what ran, where, on what input.
std::vector<std::pair<std::string, std::string>> run_context(const LoadedRun& run) {
  const json& r = run.run;
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("scenario", fmt::format("{} ({})", text_of(r, "/scenario/name"), text_of(r, "/scenario/path")));
  rows.emplace_back("run", fmt::format("started {} UTC, {}", text_of(r, "/started_utc"),
                                       r.value("complete", false) ? "complete" : "INCOMPLETE"));
  rows.emplace_back("host", fmt::format("{}: Linux {} {}, {} CPUs, {}", text_of(r, "/host/hostname"),
                                        text_of(r, "/host/kernel"), text_of(r, "/host/machine"),
                                        text_of(r, "/host/cpus"), text_of(r, "/host/cpu_model")));
  rows.emplace_back("plan", fmt::format("{}; {} frames ({} warm-up), {} segments, {} segments/frame, {} s",
                                        text_of(r, "/plan/source"), text_of(r, "/plan/frames"),
                                        text_of(r, "/plan/warmup_frames"), text_of(r, "/plan/segments"),
                                        number_at(r, "/plan/segments_per_frame")
                                            ? fmt::format("{:.2f}", *number_at(r, "/plan/segments_per_frame"))
                                            : "?",
                                        text_of(r, "/plan/duration_s")));
  std::string transport;
  if (r.contains("transport") && r["transport"].is_object())
    for (const auto& [k, v] : r["transport"].items())
      transport += fmt::format("{}{}={}", transport.empty() ? "" : ", ", k, v.is_string() ? v.get<std::string>() : v.dump());
  rows.emplace_back("transport", transport.empty() ? "?" : transport);
  if (const TimingComparability timing = run.timing(); !timing.comparable)
    rows.emplace_back("timing", fmt::format("NOT comparable with the host ({} marks the times): {}", kTimingMark,
                                            timing.reason));
  return rows;
}

struct ModeSummary {
  std::string name;
  std::string status;
  std::string reason;
  size_t repetitions = 0;
  bool has_metrics = false;
  bool predicted = false;
};

std::vector<ModeSummary> summarize_modes(const LoadedRun& run) {
  std::vector<ModeSummary> modes;
  for (const std::string& name : run.mode_names()) {
    const json& m = run.mode(name);
    ModeSummary s;
    s.name = name;
    s.status = m.value("status", "?");
    s.reason = m.value("reason", "");
    s.repetitions = m.contains("repetitions") && m["repetitions"].is_array() ? m["repetitions"].size() : 0;
    s.has_metrics = run.metrics(name).is_object();
    s.predicted = run.predicted(name);
    modes.push_back(s);
  }
  return modes;
}

std::string format_value(double v, int precision) { return fmt::format("{:.{}f}", v, precision); }

std::string ratio_text(const std::optional<double>& v, const std::optional<double>& base) {
  if (!v || !base || *base == 0) return "";
  return fmt::format("{:.2f}x", *v / *base);
}

std::string spread_text(const std::optional<Spread>& s, int precision) {
  if (!s) return "";
  return fmt::format("{} / {} / {}", format_value(s->min, precision), format_value(s->median, precision),
                     format_value(s->max, precision));
}

}  // namespace

void print_report(std::ostream& out, const LoadedRun& run) {
  fmt::print(out, "rcvqbench report: {}\n", run.json_path);
  for (const auto& [k, v] : run_context(run)) fmt::print(out, "{:<10} {}\n", k, v);
  const json& probe = run.run["probe"];
  if (probe.is_object()) {
    std::vector<std::string> yes, no;
    for (const auto& [name, cap] : probe.items()) {
      if (cap.value("available", false)) yes.push_back(name);
      else no.push_back(fmt::format("{} ({})", name, cap.value("detail", "")));
    }
    fmt::print(out, "{:<10} available: {}\n", "probe", fmt::join(yes, ", "));
    for (const std::string& n : no) fmt::print(out, "{:<10} missing: {}\n", "", n);
  }
  fmt::print(out, "\n");
  print_run_verdict(out, run);
  const json& base = run.metrics("baseline");
  const bool timing_comparable = run.timing().comparable;
  for (const ModeSummary& m : summarize_modes(run)) {
    fmt::print(out, "\n{}{} - {}", m.name, m.predicted ? " (PREDICTED by the userspace model)" : "", m.status);
    if (!m.reason.empty()) fmt::print(out, ": {}", m.reason);
    if (!m.has_metrics) {
      fmt::print(out, "\n");
      continue;
    }
    const json& metrics = run.metrics(m.name);
    fmt::print(out, "; {} repetitions, {} measured frames, integrity {}\n", m.repetitions,
               text_of(metrics, "/frames"), text_of(metrics, "/integrity"));
    fmt::print(out, "  {:<26} {:>12} {:>10}   {}\n", "metric", "value", "/baseline", "spread min / median / max");
    for (const MetricSpec& spec : report_metrics()) {
      const auto v = metric_value(metrics, spec);
      const std::string label = spec.unit.empty() ? spec.label : spec.label + " (" + spec.unit + ")";
      if (!v) {
        const std::string why = metric_unavailable_reason(metrics, spec);
        fmt::print(out, "  {:<26} {:>12}   {}\n", label, "n/a", why);
        continue;
      }
      const char* mark = is_timing(spec) && !timing_comparable ? kTimingMark : "";
      fmt::print(out, "  {:<26} {:>12} {:>10}   {}\n", label, format_value(*v, spec.precision) + mark,
                 ratio_text(v, metric_value(base, spec)), spread_text(metric_spread(metrics, spec), spec.precision));
    }
  }
  if (run.run.contains("warnings"))
    for (const json& w : run.run["warnings"]) fmt::print(out, "warning: {}\n", w.is_string() ? w.get<std::string>() : w.dump());
  for (const std::string& w : percentile_sample_warnings(run)) fmt::print(out, "warning: {}\n", w);
}

std::string report_html(const LoadedRun& run) {
  std::string h;
  auto esc = xml_escape;
  const std::string name = text_of(run.run, "/scenario/name");
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  h += fmt::format("<title>rcvqbench report: {}</title>\n", esc(name));
  h += R"(<style>
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
.ratio { color: #555; font-size: 11px; } .spread { color: #777; font-size: 11px; }
.predicted { font-style: italic; background: #f6f0fb; }
.bad { color: #b00; } .ok { color: #070; }
.incomparable { color: #8a6d00; }
figure { margin: 16px 0; } figcaption { font-size: 12px; color: #555; }
</style></head><body>
)";
  h += fmt::format("<h1>rcvqbench report: {}</h1>\n<table class=\"context\">\n", esc(name));
  for (const auto& [k, v] : run_context(run)) h += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", esc(k), esc(v));
  h += "</table>\n";

  h += "<h2>Verdict</h2>\n<p class=\"spread\">Against baseline, per frame; a change counts when it is beyond the "
       "repetitions' noise, judged as <code>rcvqbench compare</code> judges it.</p>\n<ul class=\"verdict\">\n";
  const RunVerdict verdict = run_verdict(run);
  if (!verdict.nothing_to_save.empty())
    h += fmt::format("<li class=\"incomparable\"><b>{}</b></li>\n", esc(verdict.nothing_to_save));
  if (!verdict.missing.empty()) h += fmt::format("<li>{}</li>\n", esc(verdict.missing));
  for (const std::string& line : verdict.modes) h += fmt::format("<li>{}</li>\n", esc(line));
  h += "</ul>\n";

  const std::vector<ModeSummary> modes = summarize_modes(run);
  h += "<h2>Modes</h2>\n<table><tr><th>mode</th><th>status</th><th>repetitions</th><th>note</th></tr>\n";
  for (const ModeSummary& m : modes)
    h += fmt::format("<tr{}><td>{}</td><td class=\"{}\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
                     m.predicted ? " class=\"predicted\"" : "", esc(m.name), m.status == "ok" ? "ok" : "bad",
                     esc(m.status), m.repetitions,
                     esc(m.predicted ? "predicted by the userspace AutoLOWAT model, not measured on this kernel"
                                     : m.reason));
  h += "</table>\n";

  std::vector<const ModeSummary*> shown;
  for (const ModeSummary& m : modes)
    if (m.has_metrics) shown.push_back(&m);
  if (!shown.empty()) {
    const json& base = run.metrics("baseline");
    const TimingComparability timing = run.timing();
    h += "<h2>Per-frame metrics</h2>\n<p class=\"spread\">Each cell: pooled value, ratio to baseline, and the "
         "repetitions' min / median / max.</p>\n";
    if (!timing.comparable)
      h += fmt::format("<p class=\"incomparable\">{} times not comparable with the host: {}</p>\n", kTimingMark,
                       esc(timing.reason));
    h += "<table><tr><th>metric</th>";
    for (const ModeSummary* m : shown)
      h += fmt::format("<th{}>{}{}</th>", m->predicted ? " class=\"predicted\"" : "", esc(m->name),
                       m->predicted ? " (predicted)" : "");
    h += "</tr>\n";
    for (const MetricSpec& spec : report_metrics()) {
      h += fmt::format("<tr><th>{}{}</th>", esc(spec.label), spec.unit.empty() ? "" : " (" + esc(spec.unit) + ")");
      for (const ModeSummary* m : shown) {
        const json& metrics = run.metrics(m->name);
        const auto v = metric_value(metrics, spec);
        const std::string cls = m->predicted ? "num predicted" : "num";
        if (!v) {
          h += fmt::format("<td class=\"{}\" title=\"{}\">n/a</td>", cls, esc(metric_unavailable_reason(metrics, spec)));
          continue;
        }
        const std::string ratio = ratio_text(v, metric_value(base, spec));
        const std::string spread = spread_text(metric_spread(metrics, spec), spec.precision);
        const bool incomparable = is_timing(spec) && !timing.comparable;
        h += fmt::format("<td class=\"{}\"{}>{}{}{}</td>", incomparable ? cls + " incomparable" : cls,
                         incomparable ? " title=\"" + esc(timing.reason) + "\"" : "",
                         format_value(*v, spec.precision) + (incomparable ? kTimingMark : ""),
                         ratio.empty() ? "" : "<br><span class=\"ratio\">" + ratio + " baseline</span>",
                         spread.empty() ? "" : "<br><span class=\"spread\">" + spread + "</span>");
      }
      h += "</tr>\n";
    }
    h += "</table>\n";
  }

  h += "<h2>Plots</h2>\n";
  for (const Plot& p : make_plots(run)) {
    if (p.svg.empty()) {
      h += fmt::format("<p>{}: not drawn: {}</p>\n", esc(p.title), esc(p.missing));
      continue;
    }
    const size_t svg_start = p.svg.find("<svg");  // inline: drop the XML declaration
    h += fmt::format("<figure id=\"{}\">\n{}<figcaption>{}</figcaption></figure>\n", p.name, p.svg.substr(svg_start),
                     esc(p.caption));
  }

  const json& probe = run.run["probe"];
  if (probe.is_object()) {
    h += "<h2>Probe</h2>\n<table><tr><th>capability</th><th>available</th><th>detail</th></tr>\n";
    for (const auto& [cap, v] : probe.items()) {
      const bool yes = v.value("available", false);
      h += fmt::format("<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>\n", esc(cap), yes ? "ok" : "bad",
                       yes ? "yes" : "no", esc(v.value("detail", "")));
    }
    h += "</table>\n";
  }
  std::vector<std::string> warnings;
  if (run.run.contains("warnings"))
    for (const json& w : run.run["warnings"]) warnings.push_back(w.is_string() ? w.get<std::string>() : w.dump());
  for (const std::string& w : percentile_sample_warnings(run)) warnings.push_back(w);
  if (!warnings.empty()) {
    h += "<h2>Warnings</h2>\n<ul>\n";
    for (const std::string& w : warnings) h += "<li>" + esc(w) + "</li>\n";
    h += "</ul>\n";
  }
  h += "</body></html>\n";
  return h;
}

ReportFiles write_report(const ReportOptions& options, std::ostream& out) {
  const LoadedRun run = load_run(options.results_dir);
  ReportFiles files;
  files.html = options.html_path.empty() ? (fs::path(run.dir) / "report.html").string() : options.html_path;
  const fs::path html(files.html);
  const fs::path plots_dir = html.parent_path() / (html.stem().string() + "-plots");
  std::error_code ec;
  fs::create_directories(plots_dir, ec);
  if (ec) throw InputError(fmt::format("{}: cannot create the plots directory: {}", plots_dir.string(), ec.message()));
  print_report(out, run);
  for (const Plot& p : make_plots(run)) {
    if (p.svg.empty()) {
      fmt::print(out, "plot {}: not drawn: {}\n", p.name, p.missing);
      continue;
    }
    const std::string path = (plots_dir / (p.name + ".svg")).string();
    write_file_atomic(path, p.svg);
    files.svgs.push_back(path);
  }
  write_file_atomic(files.html, report_html(run));
  fmt::print(out, "\nplots: {}\nhtml:  {}\n", plots_dir.string(), files.html);
  return files;
}

int report_command(const ReportOptions& options) {
  if (is_kernel_matrix_dir(options.results_dir)) write_kernel_matrix_report(options, std::cout);
  else write_report(options, std::cout);
  return kExitOk;
}

}  // namespace rcvq
