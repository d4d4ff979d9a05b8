// Report, plots and compare on the stored small results directory (tests/data/report_small,
// a real quickstart-like run: baseline and lowat-user measured, strparser and autolowat
// unsupported or failed).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
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
  ASSERT_EQ(plots.size(), 4u);
  const fs::path dir = scratch_dir("rcvq_report", "svg");
  std::map<std::string, std::vector<std::string>> expected = {
      {"latency_by_percentile", {"baseline", "lowat-user"}},
      {"wakeups_syscalls", {"wakeups_per_frame", "syscalls_per_frame"}},
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
  EXPECT_EQ(files.svgs.size(), 4u);
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

TEST(Compare, ShiftBeyondTheRepetitionRangeIsOutsideNoise) {
  const LoadedRun a = load_run(kSmallRun);
  LoadedRun b = a;
  json& m = b.run["modes"]["baseline"]["metrics"];
  m["wakeups_per_frame"] = m["wakeups_per_frame"].get<double>() * 2;
  for (const char* k : {"min", "median", "max"})
    m["spread"]["wakeups_per_frame"][k] = m["spread"]["wakeups_per_frame"][k].get<double>() * 2;
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
}

TEST(Compare, NoiseNeedsTwoRepetitions) {
  const Spread one{1, 1, 1, 1}, wide{1, 2, 3, 3}, shifted{4, 5, 6, 3}, overlapping{2.5, 3, 4, 3};
  std::string why;
  EXPECT_EQ(judge_noise(one, one, &why), NoiseVerdict::kUnknown);
  EXPECT_NE(why.find("2+"), std::string::npos);
  EXPECT_EQ(judge_noise(wide, shifted, nullptr), NoiseVerdict::kOutside);
  EXPECT_EQ(judge_noise(shifted, wide, nullptr), NoiseVerdict::kOutside);
  EXPECT_EQ(judge_noise(wide, overlapping, nullptr), NoiseVerdict::kWithin);
  EXPECT_EQ(judge_noise(std::nullopt, wide, nullptr), NoiseVerdict::kUnknown);
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
