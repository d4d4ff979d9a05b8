// Report, plots and compare on the stored small results directory (tests/data/report_small,
// a real quickstart-like run: baseline and lowat-user measured, strparser and autolowat
// unsupported or failed).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/errors.hpp"
#include "report/compare.hpp"
#include "report/plots.hpp"
#include "report/progress.hpp"
#include "report/report.hpp"
#include "report/run_data.hpp"
#include "report/svg.hpp"
#include "report/verdict.hpp"
#include "unit/report_xml.hpp"
#include "unit/scratch_dir.hpp"

namespace rcvq {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

TEST(ReportData, LoadsStoredRunWithEveryModeAndItsLatency) {
  const LoadedRun run = load_run(kSmallRun);
  const std::vector<std::string> modes = run.mode_names();
  ASSERT_GE(modes.size(), 2u);
  EXPECT_EQ(modes[0], "baseline");  // scenario order, not JSON key order
  EXPECT_EQ(modes[1], "lowat-user");
  ASSERT_TRUE(run.latency_us.count("baseline"));
  ASSERT_TRUE(run.metrics("baseline").is_object());
  // The .hgrm p50 row must agree with run.json's p50 (µs in the file, ns in JSON).
  double p50_row = -1;
  for (const PercentilePoint& p : run.latency_us.at("baseline"))
    if (p.percentile >= 0.5 && p50_row < 0) p50_row = p.value;
  const double p50_json = run.metrics("baseline")["latency_ns"]["p50"].get<double>() / 1000.0;
  EXPECT_NEAR(p50_row, p50_json, p50_json * 0.002);
}

// HdrHistogram's own plotter (plotFiles.html) takes every line not starting with '#'
// that splits into exactly four numbers as (value, percentile, count, 1/(1-p)).
TEST(ReportData, HgrmRowsParseTheWayHdrHistogramsPlotterReadsThem) {
  std::ifstream in(kSmallRun + "/baseline.hgrm");
  ASSERT_TRUE(in);
  std::string line;
  int plotted = 0;
  double last_x = 0, last_y = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> cols;
    for (std::string f; fields >> f;) cols.push_back(f);
    if (cols.size() != 4 || line.find_first_not_of(' ') == std::string::npos || cols[0][0] == '#') continue;
    char* end = nullptr;
    const double y = std::strtod(cols[0].c_str(), &end);
    if (end == cols[0].c_str()) continue;  // the header row
    const double x = std::strtod(cols[3].c_str(), &end);
    const double p = std::stod(cols[1]);
    EXPECT_NEAR(x, 1.0 / (1.0 - p), std::max(0.01, x * 1e-4)) << line;
    EXPECT_GE(x, last_x);
    EXPECT_GE(y, last_y);
    last_x = x;
    last_y = y;
    ++plotted;
  }
  EXPECT_GT(plotted, 20);
  const LoadedRun run = load_run(kSmallRun);
  const std::vector<PercentilePoint>& rows = run.latency_us.at("baseline");
  ASSERT_EQ(rows.size(), size_t(plotted) + 1);  // and the 100% row, which the plotter drops
  EXPECT_EQ(rows.back().percentile, 1.0);
  EXPECT_TRUE(std::isinf(rows.back().inverse));
}

TEST(ReportData, BadInputNamesTheFile) {
  const fs::path dir = scratch_dir("rcvq_report", "bad");
  try {
    load_run((dir / "missing").string());
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "missing").string() + ": no such"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "run.json") << "{\"format\": \"rcvqbench-run/1\", \"modes\": ";
  try {
    load_run(dir.string());
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "run.json").string()), std::string::npos) << e.what();
  }
  std::ofstream(dir / "run.json") << "{\"something\": 1}";
  EXPECT_THROW(load_run(dir.string()), InputError);
  EXPECT_THROW(parse_hgrm("Value Percentile TotalCount 1/(1-Percentile)\n1.0 x 3 4\n", "f.hgrm"), InputError);
  fs::remove_all(dir);
}

TEST(ReportPlots, EverySvgIsWellFormedWithTheExpectedSeries) {
  const LoadedRun run = load_run(kSmallRun);
  const std::vector<Plot> plots = make_plots(run);
  ASSERT_EQ(plots.size(), 5u);
  const fs::path dir = scratch_dir("rcvq_report", "svg");
  std::map<std::string, std::vector<std::string>> expected = {
      {"latency_by_percentile", {"baseline", "lowat-user"}},
      {"wakeups_syscalls", {"wakeups_per_frame", "syscalls_per_frame"}},
      {"cpu", {"cpu_us_per_frame"}},
      {"segments_per_frame", {"planned", "achieved:baseline", "achieved:lowat-user"}},
      {"timeline", {"segments:baseline", "wakeups:baseline", "frames:baseline", "wakeups:lowat-user"}},
  };
  for (const Plot& p : plots) {
    ASSERT_FALSE(p.svg.empty()) << p.name << ": " << p.missing;
    const fs::path file = dir / (p.name + ".svg");
    std::ofstream(file) << p.svg;
    const XmlCheck check = check_xml(file.string());
    if (!check.available) GTEST_SKIP() << check.detail;
    ASSERT_TRUE(check.well_formed) << p.name << ": " << check.detail;
    for (const std::string& series : expected[p.name])
      EXPECT_GT(count_xpath(file.string(), "//*[local-name()='g'][@data-series='" + series + "']/*"), 0)
          << p.name << " lacks series " << series;
    // Axes carry units and the legend names every series.
    EXPECT_GE(count_xpath(file.string(), "//*[local-name()='g'][@class='legend']/*[local-name()='text']"), 2)
        << p.name;
  }
  fs::remove_all(dir);
}

TEST(ReportPlots, BarsAndTimelineShowTheRunsNumbers) {
  const LoadedRun run = load_run(kSmallRun);
  const Plot bars = wakeups_syscalls_plot(run);
  const double wakeups = run.metrics("baseline")["wakeups_per_frame"].get<double>();
  char expected[64];
  std::snprintf(expected, sizeof expected, "baseline wakeups / frame: %.2f", wakeups);
  EXPECT_NE(bars.svg.find(expected), std::string::npos) << expected;

  // baseline wakes for nearly every segment, lowat-user about twice per frame: the
  // timeline must carry that difference, not a copy of one lane.
  const Plot timeline = timeline_plot(run);
  auto count_in_group = [&](const std::string& series) {
    const size_t start = timeline.svg.find("data-series=\"" + series + "\"");
    const size_t stop = timeline.svg.find("</g>", start);
    size_t n = 0;
    for (size_t at = timeline.svg.find("<line", start); at < stop; at = timeline.svg.find("<line", at + 1)) ++n;
    return n;
  };
  const size_t baseline_wakeups = count_in_group("wakeups:baseline");
  const size_t lowat_wakeups = count_in_group("wakeups:lowat-user");
  EXPECT_GT(baseline_wakeups, 2 * lowat_wakeups);
  EXPECT_GT(lowat_wakeups, 0u);
}

TEST(ReportPlots, LatencyPlotDrawsTheMaxAndSamplesPerMode) {
  const LoadedRun run = load_run(kSmallRun);
  const std::string svg = latency_by_percentile_plot(run).svg;
  // baseline.hgrm's deepest row is at 1/(1-p) = 320, so the axis runs to 99.9%.
  for (const char* tick : {">0%<", ">90%<", ">99%<", ">99.9%<"}) EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  EXPECT_EQ(svg.find("99.%"), std::string::npos);
  EXPECT_EQ(svg.find(">99.99%<"), std::string::npos);
  // Each mode's legend entry says its n, right under its name, and its line ends at a
  // marker for the 100% row.
  for (const auto& [mode, rows] : run.latency_us) {
    const std::string label = ">" + mode + (run.predicted(mode) ? " (predicted)" : "") + "</text>";
    const size_t legend_at = svg.find(label);
    ASSERT_NE(legend_at, std::string::npos) << mode;
    const size_t detail_at = svg.find("<text", legend_at);
    const std::string detail = svg.substr(detail_at, svg.find("</text>", detail_at) - detail_at);
    EXPECT_TRUE(detail.ends_with(fmt::format(">n = {} samples", rows.back().total_count))) << mode << ": " << detail;
    EXPECT_NE(svg.find(fmt::format("{} max (100%): {:.1f} µs", mode, rows.back().value)), std::string::npos) << mode;
  }
}

TEST(ReportPlots, PercentilesNeedOneOverOneMinusPSamplesOrTheyAreTheMax) {
  LoadedRun run = load_run(kSmallRun);
  // 165 latency samples per mode: p50 and p99 hold, p99.9 (which needs 1000) is the max.
  const std::vector<std::string> warnings = percentile_sample_warnings(run);
  ASSERT_FALSE(warnings.empty());
  const uint64_t n = run.latency_us.at("baseline").back().total_count;
  ASSERT_LT(n, 1000u);
  ASSERT_GE(n, 100u);
  EXPECT_EQ(warnings[0], fmt::format("baseline: {} latency samples, too few for p99.9 (needs 1000): from {:.4g}% on every "
                                     "percentile is the max",
                                     n, 100.0 * (1.0 - 1.0 / double(n))));
  const Plot plot = latency_by_percentile_plot(run);
  EXPECT_NE(plot.caption.find("Too few samples: " + warnings[0]), std::string::npos) << plot.caption;
  EXPECT_NE(plot.caption.find("at least 1/(1-p) samples"), std::string::npos) << plot.caption;
  // The dotted line where each mode's curve turns into its max.
  EXPECT_NE(plot.svg.find("data-series=\"n:baseline\""), std::string::npos);
  EXPECT_NE(plot.svg.find(fmt::format(">n={}<", n)), std::string::npos);
  std::ostringstream text;
  print_report(text, run);
  EXPECT_NE(text.str().find("warning: " + warnings[0]), std::string::npos);
  EXPECT_NE(report_html(run).find("<li>" + xml_escape(warnings[0]) + "</li>"), std::string::npos);

  // The rule's edge: 99 samples are too few for p99, 100 are enough.
  for (auto& [mode, rows] : run.latency_us)
    for (PercentilePoint& row : rows) row.total_count = 99;
  EXPECT_NE(percentile_sample_warnings(run)[0].find("too few for p99 (needs 100), p99.9 (needs 1000)"), std::string::npos);
  for (auto& [mode, rows] : run.latency_us)
    for (PercentilePoint& row : rows) row.total_count = 1000;
  EXPECT_TRUE(percentile_sample_warnings(run).empty());
  EXPECT_EQ(latency_by_percentile_plot(run).caption.find("Too few"), std::string::npos);
}

// The CPU figures a current run.json has, on top of the stored run's older ones.
void add_receive_path_cpu(LoadedRun& run, const std::string& mode, double thread_us, double softirq_us) {
  json& m = run.run["modes"][mode]["metrics"];
  m["cpu_us_per_frame"] = thread_us;
  m["net_softirq_outside_receiver_us_per_frame"] = softirq_us;
  m["receive_path_cpu_us_per_frame"] = thread_us + softirq_us;
  m["spread"]["receive_path_cpu_us_per_frame"] = {
      {"min", thread_us + softirq_us - 5}, {"median", thread_us + softirq_us}, {"max", thread_us + softirq_us + 5}, {"n", 3}};
}

TEST(ReportPlots, CpuPlotStacksTheThreadUnderTheSoftirqTimeElsewhere) {
  LoadedRun run = load_run(kSmallRun);
  add_receive_path_cpu(run, "baseline", 90, 60);
  add_receive_path_cpu(run, "lowat-user", 40, 45);
  run.run["modes"]["autolowat-model"]["metrics"]["cpu_us_per_frame"] = nullptr;
  run.run["modes"]["autolowat-model"]["metrics"]["unavailable"]["cpu_us_per_frame"] =
      "predicted mode: the model does not predict CPU time";
  const Plot plot = cpu_plot(run);
  ASSERT_FALSE(plot.svg.empty()) << plot.missing;
  for (const char* tooltip : {"baseline receiver thread: 90.0 µs/frame",
                              "baseline network softirq outside the receiver thread: 60.0 µs/frame",
                              "lowat-user receiver thread: 40.0 µs/frame", ">150.0 µs path (60% thread)<",
                              ">85.0 µs path (47% thread)<", ">not predicted<"})
    EXPECT_NE(plot.svg.find(tooltip), std::string::npos) << tooltip;
  EXPECT_NE(plot.caption.find("autolowat-model: predicted mode: the model does not predict CPU time"),
            std::string::npos)
      << plot.caption;
  // The thread's bar ends where the softirq's begins: one stack per mode.
  const size_t thread_at = plot.svg.find("baseline receiver thread");
  const size_t softirq_at = plot.svg.find("baseline network softirq");
  ASSERT_NE(thread_at, std::string::npos);
  ASSERT_NE(softirq_at, std::string::npos);
  auto attribute = [&](size_t title_at, const char* name) {
    const size_t rect = plot.svg.rfind("<rect", title_at);
    const size_t at = plot.svg.find(std::string(" ") + name + "=\"", rect) + std::strlen(name) + 3;
    return std::stod(plot.svg.substr(at));
  };
  EXPECT_NEAR(attribute(softirq_at, "y") + attribute(softirq_at, "height"), attribute(thread_at, "y"), 0.01);
  EXPECT_NEAR(attribute(thread_at, "height") / attribute(softirq_at, "height"), 90.0 / 60.0, 0.01);

  for (const std::string& m : run.mode_names())
    if (run.run["modes"][m]["metrics"].is_object()) {
      run.run["modes"][m]["metrics"].erase("cpu_us_per_frame");
      run.run["modes"][m]["metrics"].erase("receive_path_cpu_us_per_frame");
    }
  EXPECT_TRUE(cpu_plot(run).svg.empty());
  EXPECT_NE(cpu_plot(run).missing.find("no mode has CPU figures"), std::string::npos);
}

TEST(ReportPlots, PredictedLaneShowsTheModelsWakeupsNeverTheWatchedReceivers) {
  LoadedRun run = load_run(kSmallRun);
  // The stored run predates predicted timelines: its autolowat-model timeline holds the
  // rcvlowat-1 receiver's wakeups, which must not be drawn as the model's.
  Plot plot = timeline_plot(run);
  EXPECT_EQ(plot.svg.find("data-series=\"wakeups:autolowat-model\""), std::string::npos);
  EXPECT_NE(plot.svg.find("no predicted wakeups in this run.json"), std::string::npos);
  EXPECT_NE(plot.caption.find("autolowat-model's lane shows only the segments"), std::string::npos) << plot.caption;

  json& rep = run.run["modes"]["autolowat-model"]["repetitions"][0];
  rep["extra"]["model"]["timeline"] = "predicted";
  rep["timeline"]["wakeups_ns"] = {rep["timeline"]["frames"][0]["done_ns"], rep["timeline"]["frames"][1]["done_ns"]};
  plot = timeline_plot(run);
  const size_t group = plot.svg.find("data-series=\"wakeups:autolowat-model\"");
  ASSERT_NE(group, std::string::npos);
  const std::string lane = plot.svg.substr(group, plot.svg.find("</g>", group) - group);
  size_t ticks = 0;
  for (size_t at = lane.find("<line"); at != std::string::npos; at = lane.find("<line", at + 1)) ++ticks;
  EXPECT_EQ(ticks, 2u);
  EXPECT_NE(lane.find("stroke-dasharray"), std::string::npos);
  EXPECT_NE(plot.caption.find("autolowat-model's lane shows the model's predicted wakeups"), std::string::npos)
      << plot.caption;
  // One caption per plot in the page, each the plot's own and not a repeat of its title.
  const std::string html = report_html(run);
  size_t figures = 0, captions = 0;
  for (size_t at = html.find("<figure"); at != std::string::npos; at = html.find("<figure", at + 1)) ++figures;
  for (size_t at = html.find("<figcaption>"); at != std::string::npos; at = html.find("<figcaption>", at + 1)) ++captions;
  EXPECT_EQ(figures, make_plots(run).size());
  EXPECT_EQ(captions, figures);
  EXPECT_NE(html.find("<figcaption>" + xml_escape(plot.caption) + "</figcaption>"), std::string::npos);
}

TEST(ReportVerdict, SaysWhatEachModeSavesAndItsLatencyCost) {
  LoadedRun run = load_run(kSmallRun);
  add_receive_path_cpu(run, "baseline", 90, 60);
  add_receive_path_cpu(run, "lowat-user", 40, 45);
  const json& base = run.metrics("baseline");
  const json& lowat = run.metrics("lowat-user");
  const RunVerdict verdict = run_verdict(run);
  EXPECT_TRUE(verdict.nothing_to_save.empty()) << verdict.nothing_to_save;  // 9 segments per frame
  ASSERT_EQ(verdict.modes.size(), 3u);  // lowat-user, strparser, autolowat-model
  const std::string& line = verdict.modes[0];
  EXPECT_TRUE(line.starts_with("lowat-user: saves ")) << line;
  const double wakeups = base["wakeups_per_frame"].get<double>(), lowat_wakeups = lowat["wakeups_per_frame"].get<double>();
  EXPECT_NE(line.find(fmt::format("{:.0f}% of wakeups ({:.2f} → {:.2f}/frame)", 100 * (1 - lowat_wakeups / wakeups),
                                  wakeups, lowat_wakeups)),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("% of syscalls"), std::string::npos) << line;
  // Receive path 150 -> 85 µs: only the pooled values and spreads are set, the
  // repetitions carry no such metric, so it is named without a noise test.
  EXPECT_NE(line.find("43% of receive-path CPU (150.0 → 85.0 µs/frame)"), std::string::npos) << line;
  EXPECT_TRUE(line.ends_with("(changes without 2+ repetitions a side to test against the noise are named from 1%)"))
      << line;
  const double p50 = base["latency_ns"]["p50"].get<double>() / 1e3, lowat_p50 = lowat["latency_ns"]["p50"].get<double>() / 1e3;
  EXPECT_NE(line.find(fmt::format("latency p50 {:+.1f} µs", lowat_p50 - p50)), std::string::npos) << line;
  EXPECT_NE(line.find(", p99 "), std::string::npos) << line;
  EXPECT_TRUE(verdict.modes[2].starts_with("autolowat-model (predicted): would save ")) << verdict.modes[2];
  EXPECT_NE(verdict.modes[2].find("CPU and latency are not predicted"), std::string::npos);

  // A change inside the repetitions' noise is not a saving.
  json& lowat_mode = run.run["modes"]["lowat-user"];
  const json& base_reps = run.run["modes"]["baseline"]["repetitions"];
  lowat_mode["metrics"]["wakeups_per_frame"] = wakeups * 0.999;
  for (size_t i = 0; i < lowat_mode["repetitions"].size(); ++i)
    lowat_mode["repetitions"][i]["wakeups_per_frame"] = base_reps[i]["wakeups_per_frame"];
  EXPECT_EQ(run_verdict(run).modes[0].find("of wakeups"), std::string::npos) << run_verdict(run).modes[0];

  // Text and HTML pages both carry it.
  std::ostringstream text;
  print_report(text, run);
  EXPECT_NE(text.str().find("verdict (against baseline, per frame):\n  lowat-user: "), std::string::npos) << text.str();
  EXPECT_NE(report_html(run).find("<h2>Verdict</h2>"), std::string::npos);
}

TEST(ReportVerdict, LatencyFromAScheduleNotKeptIsSaidToHoldTheSendersLateness) {
  LoadedRun run = load_run(kSmallRun);
  const std::string kept = run_verdict(run).modes[0];
  EXPECT_EQ(kept.find("did not keep its schedule"), std::string::npos) << kept;
  run.run["modes"]["lowat-user"]["metrics"]["schedule_kept"] = false;
  const std::string late = run_verdict(run).modes[0];
  EXPECT_NE(late.find("(the sender did not keep its schedule in lowat-user: its lateness is in these latencies)"),
            std::string::npos)
      << late;
  run.run["modes"]["baseline"]["metrics"]["schedule_kept"] = false;
  EXPECT_NE(run_verdict(run).modes[0].find("schedule in baseline and lowat-user"), std::string::npos);
}

TEST(ReportVerdict, OneSegmentPerFrameMeansNoModeCanSaveAnything) {
  LoadedRun run = load_run(kSmallRun);
  EXPECT_TRUE(run_verdict(run).nothing_to_save.empty());
  run.run["modes"]["baseline"]["metrics"]["segments_per_frame_achieved"] = 1.0;
  const RunVerdict verdict = run_verdict(run);
  EXPECT_NE(verdict.nothing_to_save.find("frames already arrive in one segment (1.00 segments/frame achieved in "
                                         "baseline): no receiver mode can save anything for this traffic"),
            std::string::npos)
      << verdict.nothing_to_save;
  EXPECT_EQ(verdict.lines().front(), verdict.nothing_to_save);
  EXPECT_NE(report_html(run).find(xml_escape(verdict.nothing_to_save)), std::string::npos);
  // Without the kernel's count, the plan decides.
  run.run["modes"]["baseline"]["metrics"].erase("segments_per_frame_achieved");
  run.run["modes"]["baseline"]["metrics"]["segments_per_frame_planned"] = 1.0;
  EXPECT_NE(run_verdict(run).nothing_to_save.find("1.00 segments/frame planned"), std::string::npos);
  run.run["modes"]["baseline"]["metrics"]["segments_per_frame_planned"] = 1.01;
  EXPECT_TRUE(run_verdict(run).nothing_to_save.empty());
  // No baseline, no verdict: every saving is against it.
  run.run["modes"].erase("baseline");
  EXPECT_NE(run_verdict(run).missing.find("baseline produced no metrics"), std::string::npos);
}

TEST(ReportPlots, MissingDataIsSaidNotDrawn) {
  LoadedRun run = load_run(kSmallRun);
  run.run["plan"].erase("segments_per_frame_histogram");
  for (auto& [_, mode] : run.run["modes"].items())
    for (auto& rep : mode["repetitions"]) rep.erase("timeline");
  run.latency_us.clear();
  EXPECT_TRUE(segments_per_frame_plot(run).svg.empty());
  EXPECT_NE(segments_per_frame_plot(run).missing.find("segments_per_frame_histogram"), std::string::npos);
  EXPECT_TRUE(timeline_plot(run).svg.empty());
  EXPECT_TRUE(latency_by_percentile_plot(run).svg.empty());
}

TEST(ReportText, ShowsContextRatiosAndSpreads) {
  const LoadedRun run = load_run(kSmallRun);
  std::ostringstream out;
  print_report(out, run);
  const std::string text = out.str();
  EXPECT_NE(text.find(run.run["host"]["kernel"].get<std::string>()), std::string::npos);
  EXPECT_NE(text.find("wakeups/frame"), std::string::npos);
  EXPECT_NE(text.find("1.00x"), std::string::npos);  // baseline against itself
  const json& lowat = run.metrics("lowat-user");
  const double ratio = lowat["wakeups_per_frame"].get<double>() / run.metrics("baseline")["wakeups_per_frame"].get<double>();
  char expected[32];
  std::snprintf(expected, sizeof expected, "%.2fx", ratio);
  EXPECT_NE(text.find(expected), std::string::npos) << expected;
  for (const auto& [name, mode] : run.run["modes"].items()) {
    if (mode["status"] == "ok") continue;
    EXPECT_NE(text.find(mode["reason"].get<std::string>()), std::string::npos) << name;
  }
}

TEST(ReportFilesTest, WritesSvgsBesideTheHtml) {
  const fs::path dir = scratch_dir("rcvq_report", "files");
  std::ostringstream out;
  const ReportFiles files = write_report({kSmallRun, (dir / "page.html").string()}, out);
  EXPECT_EQ(files.svgs.size(), 5u);
  for (const std::string& svg : files.svgs) {
    EXPECT_EQ(fs::path(svg).parent_path(), dir / "page-plots");
    EXPECT_GT(fs::file_size(svg), 1000u);
  }
  std::ifstream html(files.html);
  std::stringstream page;
  page << html.rdbuf();
  EXPECT_NE(page.str().find("<svg"), std::string::npos);
  EXPECT_EQ(page.str().find("<?xml"), std::string::npos);  // inline SVG has no declaration
  fs::remove_all(dir);
}

TEST(Compare, RunAgainstItselfIsWithinNoiseWithRatioOne) {
  const LoadedRun run = load_run(kSmallRun);
  const std::vector<MetricChange> changes = compare_runs(run, run);
  ASSERT_FALSE(changes.empty());
  for (const MetricChange& c : changes) {
    if (!c.a) continue;
    if (*c.a != 0) {
      EXPECT_DOUBLE_EQ(*c.ratio(), 1.0) << c.mode << " " << c.spec->label;
    }
    EXPECT_EQ(c.verdict, NoiseVerdict::kWithin) << c.mode << " " << c.spec->label;
  }
  EXPECT_TRUE(context_differences(run, run).empty());
}

// Multiplies one metric of one mode by `factor`: pooled value, spread and every repetition.
void scale_metric(LoadedRun& run, const std::string& mode, const std::string& key, double factor) {
  json& m = run.run["modes"][mode];
  m["metrics"][key] = m["metrics"][key].get<double>() * factor;
  for (const char* k : {"min", "median", "max"})
    m["metrics"]["spread"][key][k] = m["metrics"]["spread"][key][k].get<double>() * factor;
  for (json& rep : m["repetitions"]) rep[key] = rep[key].get<double>() * factor;
}

TEST(Compare, ShiftBeyondTheRepetitionRangeIsOutsideNoise) {
  const LoadedRun a = load_run(kSmallRun);
  LoadedRun b = a;
  scale_metric(b, "baseline", "wakeups_per_frame", 2);
  b.run["host"]["kernel"] = "7.0.0-other";
  bool seen = false;
  for (const MetricChange& c : compare_runs(a, b)) {
    if (c.mode != "baseline" || c.spec->label != "wakeups/frame") continue;
    seen = true;
    EXPECT_EQ(c.verdict, NoiseVerdict::kOutside);
    EXPECT_DOUBLE_EQ(*c.ratio(), 2.0);
  }
  EXPECT_TRUE(seen);
  std::ostringstream out;
  print_run_comparison(out, a, b);
  EXPECT_NE(out.str().find("OUTSIDE noise (worse)"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("kernel differs"), std::string::npos);
  EXPECT_NE(out.str().find("compare: B is WORSE than A in 1: baseline wakeups/frame"), std::string::npos) << out.str();
  EXPECT_EQ(compare_exit_code(a, b), kCompareExitWorse);
  EXPECT_EQ(compare_exit_code(b, a), kExitOk);  // fewer wakeups: better, not a failure
  EXPECT_EQ(compare_exit_code(a, a), kExitOk);
}

TEST(Compare, FewRepetitionsCompareRangesAndFiveOrMoreTheMannWhitneyTest) {
  const std::vector<double> one = {1}, wide = {1, 2, 3}, shifted = {4, 5, 6}, overlapping = {2.5, 3, 4};
  NoiseJudgement j = judge_noise(one, one);
  EXPECT_EQ(j.verdict, NoiseVerdict::kUnknown);
  EXPECT_NE(j.why_unknown.find("2+"), std::string::npos);
  EXPECT_EQ(judge_noise(wide, shifted).verdict, NoiseVerdict::kOutside);
  EXPECT_EQ(judge_noise(shifted, wide).test, NoiseTest::kRanges);
  EXPECT_EQ(judge_noise(shifted, wide).verdict, NoiseVerdict::kOutside);
  EXPECT_EQ(judge_noise(wide, overlapping).verdict, NoiseVerdict::kWithin);
  EXPECT_EQ(judge_noise({}, wide).verdict, NoiseVerdict::kUnknown);

  // Five a side: the ranges overlap (6 > 5), yet 24 of the 25 pairs put B higher, an
  // exact two-sided p of 4/252: beyond the noise for the rank test, not for the ranges.
  ASSERT_EQ(kNoiseTestRepetitions, 5u);
  const std::vector<double> a = {1, 2, 3, 4, 6}, b = {5, 7, 8, 9, 10};
  j = judge_noise(a, b);
  EXPECT_EQ(j.test, NoiseTest::kMannWhitney);
  EXPECT_TRUE(j.exact);
  EXPECT_NEAR(*j.p_value, 4.0 / 252, 1e-12);
  EXPECT_EQ(j.verdict, NoiseVerdict::kOutside);
  const std::vector<double> four_a(a.begin(), a.end() - 1), four_b = {5, 7, 8, 3.5};
  EXPECT_EQ(judge_noise(four_a, four_b).test, NoiseTest::kRanges);
  EXPECT_EQ(judge_noise(four_a, four_b).verdict, NoiseVerdict::kWithin);
  // Interleaved samples: no evidence of a difference.
  j = judge_noise({1, 3, 5, 7, 9}, {2, 4, 6, 8, 10});
  EXPECT_EQ(j.verdict, NoiseVerdict::kWithin);
  EXPECT_GT(*j.p_value, kNoiseTestAlpha);
}

TEST(Compare, JudgesEachRepetitionsValuesAndSaysSoInJson) {
  const LoadedRun a = load_run(kSmallRun);
  LoadedRun b = a;
  scale_metric(b, "lowat-user", "syscalls_per_frame", 0.5);
  const json doc = run_comparison_json(a, b);
  EXPECT_EQ(doc["format"], "rcvqbench-compare/1");
  EXPECT_EQ(doc["verdict"], "not_worse");
  EXPECT_EQ(doc["exit_code"], 0);
  bool seen = false;
  for (const json& c : doc["changes"]) {
    if (c["mode"] != "lowat-user" || c["metric"] != "syscalls_per_frame") continue;
    seen = true;
    EXPECT_EQ(c["verdict"], "better");
    EXPECT_EQ(c["test"], "ranges");
    EXPECT_EQ(c["a_repetitions"].size(), 3u);
    EXPECT_DOUBLE_EQ(c["b_repetitions"][0].get<double>(), a.mode("lowat-user")["repetitions"][0]["syscalls_per_frame"].get<double>() / 2);
    EXPECT_DOUBLE_EQ(c["ratio"].get<double>(), 0.5);
  }
  EXPECT_TRUE(seen);
  // A mode that ran in A and failed in B fails the comparison whatever its numbers.
  b = a;
  b.run["modes"]["lowat-user"]["status"] = "failed";
  b.run["modes"]["lowat-user"]["metrics"] = nullptr;
  EXPECT_EQ(modes_failed_in_b(a, b), std::vector<std::string>{"lowat-user"});
  EXPECT_EQ(run_comparison_json(a, b)["verdict"], "worse");
  EXPECT_EQ(compare_exit_code(a, b), kCompareExitWorse);
}

TEST(Progress, StatusLineHasFramesRateAndEta) {
  ProgressReporter progress(ProgressReporter::Style::kQuiet);
  progress.begin("baseline", 2, 3);
  progress.schedule(200, 1'000'000'000, 2'000'000'000);  // 200 frames over 2 s from t=1 s
  progress.frames_received().store(100);
  // 1 s in: 100 of 200 due, 100 received at 100 frames/s, 1 s of schedule left.
  const std::string line = progress.status_line(2'000'000'000);
  EXPECT_NE(line.find("[2/3] baseline"), std::string::npos) << line;
  EXPECT_NE(line.find("100/200 frames received (100 due)"), std::string::npos) << line;
  EXPECT_NE(line.find("100.0 frames/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 1.0 s"), std::string::npos) << line;
}

TEST(Progress, PlainStyleWritesOneLinePerRepetitionWithoutRedraws) {
  FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    ProgressReporter progress(ProgressReporter::Style::kPlain, out);
    progress.begin("baseline", 1, 2);
    progress.schedule(10, 0, 1);
    progress.finished(10, 8.5, true);
    progress.begin("lowat-user", 1, 2);
    progress.failed("timed out");
  }
  std::rewind(out);
  std::string text(4096, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), out));
  std::fclose(out);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(text.find("\x1b["), std::string::npos);
  EXPECT_NE(text.find("[1/2] baseline         10 frames, 8.50 wakeups/frame, integrity ok"), std::string::npos) << text;
  EXPECT_NE(text.find("[1/2] lowat-user       failed: timed out"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
}

TEST(Progress, QuietWritesNothing) {
  FILE* out = std::tmpfile();
  {
    ProgressReporter progress(ProgressReporter::style_for(out, true), out);
    progress.begin("baseline", 1, 1);
    progress.schedule(10, 0, 1);
    progress.finished(10, 1, true);
  }
  EXPECT_EQ(std::ftell(out), 0);
  std::fclose(out);
  FILE* file = std::tmpfile();
  EXPECT_EQ(ProgressReporter::style_for(file, false), ProgressReporter::Style::kPlain);  // not a TTY
  std::fclose(file);
}

TEST(Svg, EscapesTextAndPicksRoundTicks) {
  EXPECT_EQ(xml_escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
  EXPECT_EQ(nice_ceiling(8.6), 10);
  EXPECT_EQ(nice_ceiling(17), 20);
  const std::vector<double> ticks = nice_ticks(0, 10, 5);
  EXPECT_EQ(ticks, (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(tick_label(2.500), "2.5");
}

}  // namespace
}  // namespace rcvq
