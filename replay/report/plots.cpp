#include "report/plots.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "report/metric_specs.hpp"
#include "report/svg.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;

// Canvas layout shared by the plots: the legend gets its own column on the right so
// it never covers data.
constexpr int kWidth = 940;
constexpr int kLegendWidth = 250;
constexpr double kLeft = 80, kTop = 56;
constexpr double kRight = kWidth - kLegendWidth - 20;

enum class Mark { kLine, kDashedLine, kBox, kTick, kTriangle };

struct LegendEntry {
  std::string label;
  std::string colour;
  Mark mark;
  std::string detail = "";  // a smaller second line under the label
};

void draw_legend(Svg& svg, const std::vector<LegendEntry>& entries, const std::string& heading = "") {
  double x = kRight + 24, y = kTop + 6;
  svg.open_group("class=\"legend\"");
  if (!heading.empty()) {
    svg.text(x, y + 4, heading, "start", 12, "font-weight:bold");
    y += 20;
  }
  for (const LegendEntry& e : entries) {
    switch (e.mark) {
      case Mark::kLine: svg.line(x, y, x + 22, y, "stroke:" + e.colour + ";stroke-width:2.5"); break;
      case Mark::kDashedLine:
        svg.line(x, y, x + 22, y, "stroke:" + e.colour + ";stroke-width:2.5;stroke-dasharray:5,3");
        break;
      case Mark::kBox: svg.rect(x + 4, y - 7, 14, 14, "fill:" + e.colour); break;
      case Mark::kTick: svg.line(x + 11, y - 8, x + 11, y + 8, "stroke:" + e.colour + ";stroke-width:2"); break;
      case Mark::kTriangle:
        svg.polygon({{x + 11, y - 6}, {x + 5, y + 6}, {x + 17, y + 6}}, "fill:" + e.colour);
        break;
    }
    svg.text(x + 30, y + 4, e.label, "start", 12);
    if (!e.detail.empty()) {
      svg.text(x + 30, y + 17, e.detail, "start", 10, "fill:#555");
      y += 12;
    }
    y += 22;
  }
  svg.close_group();
}

void draw_title(Svg& svg, const std::string& title, const std::string& subtitle) {
  svg.text(kLeft, 24, title, "start", 16, "font-weight:bold");
  if (!subtitle.empty()) svg.text(kLeft, 42, subtitle, "start", 11, "fill:#555");
}

// Horizontal grid lines with their labels for a linear y axis from 0 to y.hi, in a
// group of their own.
void draw_y_grid(Svg& svg, const Scale& y) {
  svg.open_group("class=\"grid\"");
  for (double t : nice_ticks(0, y.hi, 6)) {
    svg.line(kLeft, y(t), kRight, y(t), "stroke:#ddd");
    svg.text(kLeft - 6, y(t) + 4, tick_label(t), "end", 11);
  }
  svg.close_group();
}

void draw_frame(Svg& svg, double bottom) {
  svg.line(kLeft, kTop, kLeft, bottom, "stroke:#333");
  svg.line(kLeft, bottom, kRight, bottom, "stroke:#333");
}

void y_axis_label(Svg& svg, double bottom, const std::string& label) {
  svg.text(20, (kTop + bottom) / 2, label, "middle", 12, "", -90);
}

// One metric drawn as a bar per mode.
struct BarSeries {
  const char* key;  // metrics key in run.json
  const char* label;
  const char* colour;
};

struct ModeBars {
  std::vector<std::string> modes;  // those with metrics, in run order
  double top = 0;                  // the largest value or repetition of the series
  bool any_value = false;          // some mode has one of them
};

ModeBars modes_with_metrics(const LoadedRun& run, const std::vector<const char*>& keys) {
  ModeBars bars;
  for (const std::string& m : run.mode_names()) {
    const json& metrics = run.metrics(m);
    if (!metrics.is_object()) continue;
    bars.modes.push_back(m);
    for (const char* key : keys) {
      const auto v = number_at(metrics, std::string("/") + key);
      bars.any_value = bars.any_value || v.has_value();
      bars.top = std::max({bars.top, v.value_or(0), number_at(metrics, fmt::format("/spread/{}/max", key)).value_or(0)});
    }
  }
  return bars;
}

// The repetitions' min..max of `key` as a whisker at cx; returns its top (or `top_px`).
double draw_spread_whisker(Svg& svg, const json& metrics, const char* key, const Scale& y, double cx, double top_px) {
  const auto lo = number_at(metrics, fmt::format("/spread/{}/min", key));
  const auto hi = number_at(metrics, fmt::format("/spread/{}/max", key));
  if (!lo || !hi || *hi <= *lo) return top_px;
  svg.line(cx, y(*lo), cx, y(*hi), "stroke:#222;stroke-width:1.2");
  svg.line(cx - 5, y(*lo), cx + 5, y(*lo), "stroke:#222;stroke-width:1.2");
  svg.line(cx - 5, y(*hi), cx + 5, y(*hi), "stroke:#222;stroke-width:1.2");
  return std::min(top_px, y(*hi));
}

// The x axis of a per-mode bar plot: each mode under its group, predicted ones marked.
void draw_mode_axis(Svg& svg, const LoadedRun& run, const std::vector<std::string>& modes, double bottom) {
  const double group = (kRight - kLeft) / double(modes.size());
  for (size_t mi = 0; mi < modes.size(); ++mi) {
    const double cx = kLeft + group * (double(mi) + 0.5);
    svg.text(cx, bottom + 18, modes[mi], "middle", 12);
    if (run.predicted(modes[mi])) svg.text(cx, bottom + 33, "(predicted)", "middle", 11, "fill:#555");
  }
  svg.text((kLeft + kRight) / 2, bottom + 56, "receiver mode", "middle", 12);
}

// The percentile at 1/(1-p) = 10^decade: 0%, 90%, 99%, 99.9%, ...
std::string nines_label(int decade) {
  if (decade == 0) return "0%";
  if (decade == 1) return "90%";
  if (decade == 2) return "99%";
  return "99." + std::string(size_t(decade - 2), '9') + "%";
}

std::string ok_series_label(const LoadedRun& run, const std::string& mode) {
  return run.predicted(mode) ? mode + " (predicted)" : mode;
}

// The mode's latency samples: the .hgrm's total count, else run.json's measured frames.
std::optional<uint64_t> latency_samples(const LoadedRun& run, const std::string& mode) {
  if (auto it = run.latency_us.find(mode); it != run.latency_us.end() && !it->second.empty())
    return it->second.back().total_count;
  if (auto frames = number_at(run.metrics(mode), "/frames")) return uint64_t(*frames);
  return std::nullopt;
}

// "99.69%": the percentile from which on n samples give the max.
std::string max_from_percentile(uint64_t n) { return fmt::format("{:.4g}%", 100.0 * (1.0 - 1.0 / double(n))); }

}  // namespace

const std::vector<PercentileShown>& shown_percentiles() {
  static const std::vector<PercentileShown> shown = {{"p50", 2}, {"p99", 100}, {"p99.9", 1000}};
  return shown;
}

std::vector<std::string> percentile_sample_warnings(const LoadedRun& run) {
  std::vector<std::string> warnings;
  for (const std::string& m : run.mode_names()) {
    if (!run.metrics(m).is_object() && !run.latency_us.count(m)) continue;
    const std::optional<uint64_t> n = latency_samples(run, m);
    if (!n || *n == 0) continue;
    std::vector<std::string> too_few;
    for (const PercentileShown& p : shown_percentiles())
      if (double(*n) < p.inverse) too_few.push_back(fmt::format("{} (needs {:.0f})", p.label, p.inverse));
    if (!too_few.empty())
      warnings.push_back(fmt::format("{}: {} latency samples, too few for {}: from {} on every percentile is the max", m,
                                     *n, fmt::join(too_few, ", "), max_from_percentile(*n)));
  }
  return warnings;
}

Plot latency_by_percentile_plot(const LoadedRun& run) {
  Plot plot{"latency_by_percentile", "Latency by percentile", "", "", ""};
  std::vector<std::string> modes;
  double lo = INFINITY, hi = 0, max_inverse = 1;
  for (const std::string& m : run.mode_names()) {
    auto it = run.latency_us.find(m);
    if (it == run.latency_us.end() || it->second.empty()) continue;
    modes.push_back(m);
    for (const PercentilePoint& p : it->second) {
      if (p.value > 0) lo = std::min(lo, p.value);
      hi = std::max(hi, p.value);
      if (std::isfinite(p.inverse)) max_inverse = std::max(max_inverse, p.inverse);
    }
  }
  if (modes.empty()) {
    plot.missing = "no mode has a latency distribution (.hgrm) in this results directory";
    return plot;
  }
  if (!std::isfinite(lo)) lo = 1;
  const double y_lo = std::pow(10.0, std::floor(std::log10(lo)));
  double y_hi = std::pow(10.0, std::ceil(std::log10(std::max(hi, lo * 1.0001))));
  if (y_hi <= y_lo) y_hi = y_lo * 10;
  // The axis ends past the deepest finite row: every percentile from that row's level up
  // is the max's bucket, so the 100% row (at 1/(1-p) = infinity) is drawn at the axis end.
  const int decades = std::max(2, int(std::floor(std::log10(max_inverse))) + 1);

  const double bottom = 400;
  Svg svg(kWidth, 460, plot.title);
  draw_title(svg, "Latency by percentile",
             "from the scheduled send of each frame's last byte to the recv() that completed it");
  const Scale x{0, double(decades), kLeft, kRight, false};
  const Scale y{y_lo, y_hi, bottom, kTop, true};
  svg.open_group("class=\"grid\"");
  for (int d = 0; d <= decades; ++d) {
    svg.line(x(d), kTop, x(d), bottom, "stroke:#ddd");
    svg.text(x(d), bottom + 16, nines_label(d), "middle", 11);
  }
  const int y_decades = int(std::lround(std::log10(y_hi / y_lo)));
  for (double decade = y_lo; decade <= y_hi * 1.0001; decade *= 10) {
    for (double step : {1.0, 2.0, 5.0}) {
      const double v = decade * step;
      if (v > y_hi * 1.0001) break;
      const bool major = step == 1.0;
      svg.line(kLeft, y(v), kRight, y(v), major ? "stroke:#ccc" : "stroke:#eee");
      if (major || y_decades <= 2) svg.text(kLeft - 6, y(v) + 4, tick_label(v), "end", 11);
    }
  }
  svg.close_group();
  draw_frame(svg, bottom);
  svg.text((kLeft + kRight) / 2, bottom + 40, "percentile (HdrHistogram 1/(1-p) axis)", "middle", 12);
  y_axis_label(svg, bottom, "latency (µs, log scale)");

  std::vector<LegendEntry> legend;
  for (size_t i = 0; i < modes.size(); ++i) {
    const std::string& m = modes[i];
    const std::string colour = mode_colour(m, i);
    const std::vector<PercentilePoint>& rows = run.latency_us.at(m);
    std::vector<std::pair<double, double>> points;
    for (const PercentilePoint& p : rows)
      points.emplace_back(std::isfinite(p.inverse) ? x(std::log10(std::max(1.0, p.inverse))) : x(decades),
                          y(std::max(p.value, y_lo)));
    const bool predicted = run.predicted(m);
    svg.open_group(fmt::format("class=\"series\" data-series=\"{}\"", xml_escape(m)));
    svg.polyline(points, "stroke:" + colour + ";stroke-width:2" + (predicted ? ";stroke-dasharray:6,3" : ""));
    if (!std::isfinite(rows.back().inverse))
      svg.rect(points.back().first - 4, points.back().second - 4, 8, 8, "fill:" + colour,
               fmt::format("{} max (100%): {:.1f} µs", m, rows.back().value));
    svg.close_group();
    // Right of 1/(1-p) = n every percentile is the max: mark where this mode's data ends.
    const uint64_t n = rows.back().total_count;
    if (n > 0 && std::log10(double(n)) < decades) {
      svg.open_group(fmt::format("class=\"sample-limit\" data-series=\"n:{}\"", xml_escape(m)));
      const double at = x(std::log10(double(n)));
      svg.line(at, kTop, at, bottom, "stroke:" + colour + ";stroke-width:1;stroke-dasharray:1,3");
      svg.text(at + 3, kTop + 12 + 12 * double(i), fmt::format("n={}", n), "start", 10, "fill:" + colour);
      svg.close_group();
    }
    legend.push_back({ok_series_label(run, m), colour, predicted ? Mark::kDashedLine : Mark::kLine,
                      fmt::format("n = {} samples", rows.back().total_count)});
  }
  legend.push_back({"max (100%)", "#555", Mark::kBox});
  legend.push_back({"n: beyond it, the max", "#555", Mark::kTick});
  draw_legend(svg, legend, "mode");
  plot.svg = svg.finish();
  plot.caption =
      "Latency by percentile, each mode's repetitions pooled, from the scheduled send of a frame's last byte; the "
      "square at the axis end is the max (100%). A percentile p differs from the max only with at least 1/(1-p) "
      "samples, so each mode's curve is the max right of its dotted n line.";
  if (const std::vector<std::string> warnings = percentile_sample_warnings(run); !warnings.empty())
    plot.caption += fmt::format(" Too few samples: {}.", fmt::join(warnings, "; "));
  return plot;
}

Plot wakeups_syscalls_plot(const LoadedRun& run) {
  Plot plot{"wakeups_syscalls", "Wakeups and syscalls per frame", "", "", ""};
  const std::vector<BarSeries> series = {{"wakeups_per_frame", "wakeups / frame", "#4c78a8"},
                                         {"syscalls_per_frame", "syscalls / frame", "#f58518"}};
  const ModeBars bars = modes_with_metrics(run, {series[0].key, series[1].key});
  const std::vector<std::string>& modes = bars.modes;
  const double top_value = bars.top;
  if (modes.empty()) {
    plot.missing = "no mode produced metrics in this run";
    return plot;
  }
  const double bottom = 380;
  Svg svg(kWidth, 450, plot.title);
  draw_title(svg, "Wakeups and syscalls per frame",
             "pooled over repetitions; whiskers span the repetitions' min to max");
  const double y_hi = nice_ceiling(top_value * 1.12);
  const Scale y{0, y_hi, bottom, kTop, false};
  draw_y_grid(svg, y);
  const double group = (kRight - kLeft) / double(modes.size());
  const double bar = std::min(48.0, group * 0.8 / double(series.size()));
  for (size_t si = 0; si < series.size(); ++si) {
    const BarSeries& s = series[si];
    svg.open_group(fmt::format("class=\"series\" data-series=\"{}\"", s.key));
    for (size_t mi = 0; mi < modes.size(); ++mi) {
      const json& metrics = run.metrics(modes[mi]);
      const std::optional<double> v = number_at(metrics, std::string("/") + s.key);
      if (!v) continue;
      const double x0 = kLeft + group * double(mi) + (group - bar * double(series.size())) / 2 + bar * double(si);
      const bool predicted = run.predicted(modes[mi]);
      svg.rect(x0, y(*v), bar - 2, bottom - y(*v),
               std::string("fill:") + s.colour + (predicted ? ";fill-opacity:0.45;stroke:" + std::string(s.colour) +
                                                                  ";stroke-dasharray:4,2"
                                                            : ""),
               fmt::format("{} {}: {:.2f}", modes[mi], s.label, *v));
      const double label_y = draw_spread_whisker(svg, metrics, s.key, y, x0 + (bar - 2) / 2, y(*v));
      svg.text(x0 + (bar - 2) / 2, label_y - 5, fmt::format("{:.2f}", *v), "middle", 10);
    }
    svg.close_group();
  }
  draw_frame(svg, bottom);
  draw_mode_axis(svg, run, modes, bottom);
  y_axis_label(svg, bottom, "count per frame");
  std::vector<LegendEntry> legend;
  for (const BarSeries& s : series) legend.push_back({s.label, s.colour, Mark::kBox});
  draw_legend(svg, legend);
  plot.svg = svg.finish();
  plot.caption = "Epoll wakeups and syscalls per measured frame, per mode (pale, dashed: predicted by the model); "
                 "whiskers span the repetitions' min to max.";
  return plot;
}

Plot cpu_plot(const LoadedRun& run) {
  Plot plot{"cpu", "CPU per frame", "", "", ""};
  const BarSeries thread{"cpu_us_per_frame", "receiver thread (task-clock)", "#4c78a8"};
  const BarSeries softirq{"net_softirq_outside_receiver_us_per_frame", "network softirq outside the receiver thread",
                          "#e45756"};
  constexpr const char* kPath = "receive_path_cpu_us_per_frame";
  const MetricSpec& thread_spec = *std::find_if(report_metrics().begin(), report_metrics().end(),
                                                [&](const MetricSpec& s) { return s.spread == thread.key; });
  const ModeBars bars = modes_with_metrics(run, {thread.key, kPath});
  const std::vector<std::string>& modes = bars.modes;
  const double top_value = bars.top;
  if (!bars.any_value) {
    plot.missing = "no mode has CPU figures in this run.json";
    return plot;
  }
  const double bottom = 380;
  Svg svg(kWidth, 450, plot.title);
  draw_title(svg, "CPU per frame: receiver thread vs whole receive path",
             "stacked: the thread's own CPU, then the kernel's network receive work elsewhere; whiskers: the "
             "receive path's repetitions min to max");
  const double y_hi = nice_ceiling(top_value * 1.15);
  const Scale y{0, y_hi, bottom, kTop, false};
  draw_y_grid(svg, y);
  const double group = (kRight - kLeft) / double(modes.size());
  const double bar = std::min(64.0, group * 0.5);
  std::vector<std::string> unmeasured;
  for (size_t mi = 0; mi < modes.size(); ++mi) {
    const std::string& m = modes[mi];
    const json& metrics = run.metrics(m);
    const double cx = kLeft + group * (double(mi) + 0.5);
    const auto cpu = number_at(metrics, std::string("/") + thread.key);
    const auto outside = number_at(metrics, std::string("/") + softirq.key);
    const auto path = number_at(metrics, std::string("/") + kPath);
    if (!cpu) {
      const std::string why = metric_unavailable_reason(metrics, thread_spec);
      svg.text(cx, bottom - 8, run.predicted(m) ? "not predicted" : "not measured", "middle", 11, "fill:#8a6d00");
      unmeasured.push_back(fmt::format("{}: {}", m, why.empty() ? "no CPU figure" : why));
      continue;
    }
    svg.open_group(fmt::format("class=\"series\" data-series=\"{}\"", thread.key));
    svg.rect(cx - bar / 2, y(*cpu), bar, bottom - y(*cpu), std::string("fill:") + thread.colour,
             fmt::format("{} receiver thread: {:.1f} µs/frame", m, *cpu));
    svg.close_group();
    double top_px = y(*cpu);
    if (outside) {
      svg.open_group(fmt::format("class=\"series\" data-series=\"{}\"", softirq.key));
      svg.rect(cx - bar / 2, y(*cpu + *outside), bar, y(*cpu) - y(*cpu + *outside), std::string("fill:") + softirq.colour,
               fmt::format("{} network softirq outside the receiver thread: {:.1f} µs/frame", m, *outside));
      svg.close_group();
      top_px = y(*cpu + *outside);
    }
    if (path) {
      svg.open_group(fmt::format("class=\"series\" data-series=\"{}\"", kPath));
      top_px = draw_spread_whisker(svg, metrics, kPath, y, cx, top_px);
      svg.text(cx, top_px - 5, fmt::format("{:.1f} µs path ({:.0f}% thread)", *path, *path > 0 ? 100 * *cpu / *path : 0),
               "middle", 10);
      svg.close_group();
    } else {
      svg.text(cx, top_px - 5, fmt::format("{:.1f} µs thread; path n/a", *cpu), "middle", 10);
    }
  }
  draw_frame(svg, bottom);
  draw_mode_axis(svg, run, modes, bottom);
  y_axis_label(svg, bottom, "CPU per frame (µs)");
  draw_legend(svg, {{thread.label, thread.colour, Mark::kBox},
                    {"network softirq elsewhere", softirq.colour, Mark::kBox, "NET_RX + NET_TX, any CPU"}});
  plot.svg = svg.finish();
  plot.caption =
      "CPU per measured frame: the receiver thread's own (perf task-clock) and, stacked on it, the network softirq "
      "time spent outside that thread (mostly the sender's CPU on loopback and veth, where the receiving TCP and a "
      "sockmap parser run); together the receive path's cost to the machine. Comparable only between runs pinned "
      "alike.";
  if (!unmeasured.empty()) plot.caption += fmt::format(" Not shown: {}.", fmt::join(unmeasured, "; "));
  return plot;
}

Plot segments_per_frame_plot(const LoadedRun& run) {
  Plot plot{"segments_per_frame", "Segments per frame", "", "", ""};
  const json& plan = run.run["plan"];
  if (!plan.is_object() || !plan.contains("segments_per_frame_histogram") ||
      !plan["segments_per_frame_histogram"].is_array() || plan["segments_per_frame_histogram"].empty()) {
    plot.missing = "run.json has no plan.segments_per_frame_histogram (written by newer rcvqbench)";
    return plot;
  }
  std::map<double, double> frames_by_segments;
  for (const json& bin : plan["segments_per_frame_histogram"]) {
    const auto s = number_at(bin, "/segments");
    const auto f = number_at(bin, "/frames");
    if (s && f) frames_by_segments[*s] += *f;
  }
  if (frames_by_segments.empty()) {
    plot.missing = "plan.segments_per_frame_histogram has no {segments, frames} bins";
    return plot;
  }
  // Wide spreads are grouped into about 30 bins so bars stay readable.
  const double first = frames_by_segments.begin()->first, last = frames_by_segments.rbegin()->first;
  const double bin_width = std::max(1.0, std::ceil((last - first + 1) / 30.0));
  std::map<double, double> bins;
  for (const auto& [s, f] : frames_by_segments) bins[first + std::floor((s - first) / bin_width) * bin_width] += f;
  double top = 0;
  for (const auto& [_, f] : bins) top = std::max(top, f);

  struct Achieved {
    std::string mode;
    double value;
  };
  std::vector<Achieved> achieved;
  for (const std::string& m : run.mode_names())
    if (auto v = number_at(run.metrics(m), "/segments_per_frame_achieved")) achieved.push_back({m, *v});

  double total_frames = 0;
  for (const auto& [_, f] : bins) total_frames += f;
  double x_lo = first - bin_width, x_hi = last + 2 * bin_width;
  for (const Achieved& a : achieved) {
    x_lo = std::min(x_lo, std::floor(a.value) - bin_width);
    x_hi = std::max(x_hi, std::ceil(a.value) + bin_width);
  }
  x_lo = std::max(0.0, x_lo);
  const double bottom = 380;
  Svg svg(kWidth, 440, plot.title);
  draw_title(svg, "Segments per frame",
             fmt::format("planned sends carrying each measured frame's bytes, {:.0f} frames; dashed: achieved mean",
                         total_frames));
  const Scale x{x_lo, x_hi, kLeft, kRight, false};
  const double y_hi = nice_ceiling(top * 1.1);
  const Scale y{0, y_hi, bottom, kTop, false};
  draw_y_grid(svg, y);
  svg.open_group("class=\"grid\"");
  for (double t : nice_ticks(x_lo, x_hi, 12)) {
    if (t != std::floor(t)) continue;  // segment counts are whole
    svg.text(x(t), bottom + 16, tick_label(t), "middle", 11);
  }
  svg.close_group();
  const double bar_px = (x(bin_width) - x(0)) * 0.8;
  svg.open_group("class=\"series\" data-series=\"planned\"");
  for (const auto& [s, f] : bins) {
    // A bar is centred on its count (or spans its bin when counts are grouped).
    const double centre = bin_width == 1 ? x(s) : x(s + (bin_width - 1) / 2);
    svg.rect(centre - bar_px / 2, y(f), bar_px, bottom - y(f), "fill:#9ecae1;stroke:#3182bd",
             bin_width == 1 ? fmt::format("{} segments: {} frames", tick_label(s), tick_label(f))
                            : fmt::format("{}-{} segments: {} frames", tick_label(s), tick_label(s + bin_width - 1),
                                          tick_label(f)));
    // Left-aligned so the achieved-mean lines through the middle do not cross it.
    svg.text(centre - bar_px / 2 + 2, y(f) - 5, tick_label(f), "start", 10);
  }
  svg.close_group();
  std::vector<LegendEntry> legend = {{"planned (every mode)", "#9ecae1", Mark::kBox}};
  for (size_t i = 0; i < achieved.size(); ++i) {
    const std::string colour = mode_colour(achieved[i].mode, i);
    svg.open_group(fmt::format("class=\"series\" data-series=\"achieved:{}\"", xml_escape(achieved[i].mode)));
    svg.line(x(achieved[i].value), kTop, x(achieved[i].value), bottom,
             "stroke:" + colour + ";stroke-width:2;stroke-dasharray:6,4");
    svg.close_group();
    legend.push_back({fmt::format("{} achieved {:.2f}", achieved[i].mode, achieved[i].value), colour,
                      Mark::kDashedLine});
  }
  draw_frame(svg, bottom);
  svg.text((kLeft + kRight) / 2, bottom + 40, "TCP segments per frame", "middle", 12);
  y_axis_label(svg, bottom, "frames");
  draw_legend(svg, legend);
  plot.svg = svg.finish();
  plot.caption = "How many planned TCP sends carry each measured frame's bytes (the same plan for every mode), and "
                 "each mode's achieved mean as the receiver's TCP counted data segments.";
  return plot;
}

Plot timeline_plot(const LoadedRun& run) {
  Plot plot{"timeline", "Per-frame timeline", "", "", ""};
  struct Lane {
    std::string mode;
    const json* timeline;
    bool predicted;
    // A predicted mode's lane holds the model's wakeups and completions; in a run.json
    // from before the model wrote them, the timeline is the watched receiver's.
    bool holds_prediction;
  };
  std::vector<Lane> lanes;
  for (const std::string& m : run.mode_names()) {
    const json& mode = run.mode(m);
    if (!mode.is_object() || !mode["repetitions"].is_array()) continue;
    for (const json& rep : mode["repetitions"])
      if (rep.contains("timeline") && rep["timeline"]["frames"].is_array() && !rep["timeline"]["frames"].empty()) {
        const bool holds_prediction =
            rep.contains(json::json_pointer("/extra/model/timeline")) && rep["extra"]["model"]["timeline"] == "predicted";
        lanes.push_back({m, &rep["timeline"], run.predicted(m), holds_prediction});
        break;
      }
  }
  if (lanes.empty()) {
    plot.missing = "no repetition in run.json carries a timeline (written by newer rcvqbench)";
    return plot;
  }
  // Every mode replays the same plan, so the first lane's frames set the window.
  const json& frames = (*lanes[0].timeline)["frames"];
  double origin = INFINITY, end = -INFINITY;
  for (const Lane& lane : lanes) {
    for (const json& s : (*lane.timeline)["segments"]) {
      origin = std::min(origin, s.value("planned_ns", 0.0));
      end = std::max(end, s.value("sent_ns", 0.0));
    }
    for (const json& f : (*lane.timeline)["frames"]) end = std::max(end, f.value("done_ns", 0.0));
    for (const json& w : (*lane.timeline)["wakeups_ns"]) end = std::max(end, w.get<double>());
  }
  if (!std::isfinite(origin)) origin = frames[0].value("due_ns", 0.0);
  const double span_ms = std::max(0.001, (end - origin) / 1e6);
  constexpr double kLaneHeight = 66, kLaneLeft = 130;
  const double bottom = kTop + 18 + kLaneHeight * double(lanes.size());
  Svg svg(kWidth, int(bottom + 70), plot.title);
  const uint64_t first_frame = frames[0].value("index", uint64_t(0));
  draw_title(svg, fmt::format("Timeline of frames {}-{} (connection 0, first repetition)", first_frame,
                              first_frame + frames.size() - 1),
             "when each segment was sent, when epoll_wait woke the receiver, when each frame completed");
  const double tick_step = nice_ceiling(span_ms / 10);
  const Scale x{0, std::ceil(span_ms / tick_step) * tick_step, kLaneLeft, kRight, false};
  const std::vector<double> time_ticks = nice_ticks(0, x.hi, int(std::lround(x.hi / tick_step)));
  auto px = [&](double ns) { return x((ns - origin) / 1e6); };
  const double lanes_top = kTop + 18;
  svg.open_group("class=\"grid\"");
  for (double t : time_ticks) {
    svg.line(x(t), lanes_top, x(t), bottom, "stroke:#eee");
    svg.text(x(t), bottom + 16, tick_label(t), "middle", 11);
  }
  // Frame starts: the scheduled send of each frame's first segment.
  std::map<uint64_t, double> frame_start;
  for (const json& s : (*lanes[0].timeline)["segments"]) {
    const uint64_t f = s.value("frame", uint64_t(0));
    const double at = s.value("planned_ns", 0.0);
    if (!frame_start.count(f) || at < frame_start[f]) frame_start[f] = at;
  }
  double last_label_px = -1e9;
  for (const auto& [f, at] : frame_start) {
    svg.line(px(at), lanes_top - 4, px(at), bottom, "stroke:#999;stroke-dasharray:2,3");
    if (px(at) - last_label_px >= 54) {
      svg.text(px(at) + 2, lanes_top - 6, fmt::format("frame {}", f), "start", 10, "fill:#555");
      last_label_px = px(at);
    }
  }
  svg.close_group();
  for (size_t i = 0; i < lanes.size(); ++i) {
    const Lane& lane = lanes[i];
    const double y0 = lanes_top + kLaneHeight * double(i);
    const std::string colour = mode_colour(lane.mode, i);
    if (i > 0) svg.line(kLaneLeft, y0, kRight, y0, "stroke:#ccc");
    svg.text(kLaneLeft - 8, y0 + kLaneHeight / 2 + 4, lane.mode, "end", 12);
    if (run.predicted(lane.mode)) svg.text(kLaneLeft - 8, y0 + kLaneHeight / 2 + 18, "(predicted)", "end", 10);
    svg.open_group(fmt::format("class=\"series\" data-series=\"segments:{}\"", xml_escape(lane.mode)));
    for (const json& s : (*lane.timeline)["segments"]) {
      const double sent = s.value("sent_ns", 0.0);
      const double at = sent != 0 ? sent : s.value("planned_ns", 0.0);
      svg.line(px(at), y0 + 8, px(at), y0 + 24, "stroke:#555;stroke-width:1.2");
    }
    svg.close_group();
    if (lane.predicted && !lane.holds_prediction) {
      // Drawing the watched rcvlowat-1 receiver's wakeups here would pass them off as the model's.
      svg.text(kLaneLeft + 6, y0 + 42, "no predicted wakeups in this run.json (written by older rcvqbench)", "start",
               11, "fill:#8a6d00");
      continue;
    }
    const std::string dash = lane.predicted ? ";stroke-dasharray:3,2" : "";
    svg.open_group(fmt::format("class=\"series\" data-series=\"wakeups:{}\"", xml_escape(lane.mode)));
    for (const json& w : (*lane.timeline)["wakeups_ns"])
      svg.line(px(w.get<double>()), y0 + 29, px(w.get<double>()), y0 + 45,
               "stroke:" + colour + ";stroke-width:1.6" + dash);
    svg.close_group();
    svg.open_group(fmt::format("class=\"series\" data-series=\"frames:{}\"", xml_escape(lane.mode)));
    for (const json& f : (*lane.timeline)["frames"]) {
      const double cx = px(f.value("done_ns", 0.0));
      svg.polygon({{cx, y0 + 49}, {cx - 5, y0 + 59}, {cx + 5, y0 + 59}},
                  lane.predicted ? "fill:none;stroke:#222;stroke-width:1.2" : "fill:#222");
    }
    svg.close_group();
  }
  svg.line(kLaneLeft, lanes_top, kLaneLeft, bottom, "stroke:#333");
  svg.line(kLaneLeft, bottom, kRight, bottom, "stroke:#333");
  svg.text((kLaneLeft + kRight) / 2, bottom + 40,
           fmt::format("time since frame {}'s first scheduled send (ms)", first_frame), "middle", 12);
  std::vector<LegendEntry> legend = {{"segment sent", "#555", Mark::kTick},
                                     {"epoll wakeup (mode colour)", "#1f77b4", Mark::kTick},
                                     {"frame complete", "#222", Mark::kTriangle}};
  std::vector<std::string> predicted_notes;
  for (const Lane& lane : lanes) {
    if (!lane.predicted) continue;
    predicted_notes.push_back(
        lane.holds_prediction
            ? fmt::format("{}'s lane shows the model's predicted wakeups and frame completions (dashed, hollow), "
                          "placed at the skb arrivals it observed, not the wakeups of the rcvlowat-1 receiver it "
                          "watched",
                          lane.mode)
            : fmt::format("{}'s lane shows only the segments: this run.json holds the watched rcvlowat-1 "
                          "receiver's wakeups, not predicted ones",
                          lane.mode));
    if (lane.holds_prediction) legend.push_back({"predicted (model)", "#555", Mark::kDashedLine});
  }
  draw_legend(svg, legend);
  plot.svg = svg.finish();
  plot.caption = fmt::format(
      "Frames {}-{} of connection 0 in each mode's first repetition: when each segment was sent, when epoll_wait "
      "woke the receiver and when each frame completed.{}",
      first_frame, first_frame + frames.size() - 1,
      predicted_notes.empty() ? "" : fmt::format(" {}.", fmt::join(predicted_notes, "; ")));
  return plot;
}

std::vector<Plot> make_plots(const LoadedRun& run) {
  return {latency_by_percentile_plot(run), wakeups_syscalls_plot(run), cpu_plot(run), segments_per_frame_plot(run),
          timeline_plot(run)};
}

}  // namespace rcvq
