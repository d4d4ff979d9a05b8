// `rcvqbench report` and `compare` end to end through the built binary, and the HTML
// report rendered by headless Chromium (Debian package chromium, installed by tools/setup).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "unit/report_xml.hpp"

namespace rcvq {
namespace {

namespace fs = std::filesystem;

const std::string kSmallRun = std::string(RCVQ_SOURCE_DIR) + "/tests/data/report_small";

struct Outcome {
  int exit_code;
  std::string output;  // stdout and stderr
};

Outcome run(const std::string& args) {
  int status = 0;
  const std::string out = run_capture(std::string(RCVQ_BINARY) + " " + args + " 2>&1", &status);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

fs::path scratch_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("rcvq_report_cli_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(ReportCli, WritesTextHtmlAndPlots) {
  const fs::path dir = scratch_dir("ok");
  const Outcome o = run("report " + kSmallRun + " --html " + (dir / "report.html").string());
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("wakeups/frame"), std::string::npos);
  for (const char* plot : {"latency_by_percentile", "wakeups_syscalls", "segments_per_frame", "timeline"}) {
    const fs::path svg = dir / "report-plots" / (std::string(plot) + ".svg");
    ASSERT_TRUE(fs::exists(svg)) << svg;
    const XmlCheck check = check_xml(svg.string());
    if (check.available) EXPECT_TRUE(check.well_formed) << svg << ": " << check.detail;
  }
  EXPECT_TRUE(fs::exists(dir / "report.html"));
  fs::remove_all(dir);
}

TEST(ReportCli, BadInputExitsTwoNamingTheFile) {
  const fs::path dir = scratch_dir("bad");
  Outcome o = run("report " + (dir / "nothing").string());
  EXPECT_EQ(o.exit_code, 2) << o.output;
  EXPECT_NE(o.output.find((dir / "nothing").string() + ": no such"), std::string::npos) << o.output;
  std::ofstream(dir / "run.json") << "not json";
  o = run("compare " + kSmallRun + " " + dir.string());
  EXPECT_EQ(o.exit_code, 2) << o.output;
  EXPECT_NE(o.output.find((dir / "run.json").string()), std::string::npos) << o.output;
  fs::remove_all(dir);
}

TEST(ReportCli, CompareOfARunWithItselfIsWithinNoise) {
  const Outcome o = run("compare " + kSmallRun + " " + kSmallRun + "/run.json");
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("within noise"), std::string::npos) << o.output;
  EXPECT_EQ(o.output.find("OUTSIDE"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("1.000"), std::string::npos);
}

// A copy of the stored run with one mode's metric scaled in its pooled value, spread
// and every repetition, the way a real change would show.
fs::path scaled_copy(const std::string& name, const std::string& mode, const std::string& key, double factor) {
  const fs::path dir = scratch_dir(name);
  for (const auto& entry : fs::directory_iterator(kSmallRun)) fs::copy(entry.path(), dir / entry.path().filename());
  nlohmann::json run = nlohmann::json::parse(std::ifstream(dir / "run.json"));
  nlohmann::json& m = run["modes"][mode];
  m["metrics"][key] = m["metrics"][key].get<double>() * factor;
  for (const char* k : {"min", "median", "max"})
    m["metrics"]["spread"][key][k] = m["metrics"]["spread"][key][k].get<double>() * factor;
  for (nlohmann::json& rep : m["repetitions"]) rep[key] = rep[key].get<double>() * factor;
  std::ofstream(dir / "run.json") << run.dump(2);
  return dir;
}

// stdout only: the JSON document, without stderr mixed in.
Outcome run_stdout(const std::string& args) {
  int status = 0;
  const std::string out = run_capture(std::string(RCVQ_BINARY) + " " + args + " 2>/dev/null", &status);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(ReportCli, CompareExitsOneWhenBIsWorseBeyondTheNoiseLikeTheGate) {
  const fs::path worse = scaled_copy("worse", "baseline", "syscalls_per_frame", 1.5);
  Outcome o = run("compare " + kSmallRun + " " + worse.string());
  EXPECT_EQ(o.exit_code, 1) << o.output;
  EXPECT_NE(o.output.find("compare: B is WORSE than A in 1: baseline syscalls/frame"), std::string::npos) << o.output;
  // The same change the other way round is an improvement: exit 0.
  o = run("compare " + worse.string() + " " + kSmallRun);
  EXPECT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("OUTSIDE noise (better)"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("compare: B is not worse than A beyond the noise"), std::string::npos) << o.output;
  fs::remove_all(worse);
}

TEST(ReportCli, CompareJsonCarriesEveryJudgementAndTheExitCode) {
  const fs::path worse = scaled_copy("json", "lowat-user", "wakeups_per_frame", 2);
  Outcome o = run_stdout("compare --json " + kSmallRun + " " + worse.string());
  EXPECT_EQ(o.exit_code, 1) << o.output;
  const nlohmann::json doc = nlohmann::json::parse(o.output);  // nothing but the document on stdout
  EXPECT_EQ(doc["format"], "rcvqbench-compare/1");
  EXPECT_EQ(doc["verdict"], "worse");
  EXPECT_EQ(doc["exit_code"], 1);
  EXPECT_EQ(doc["noise_rule"]["mann_whitney_min_repetitions"], 5);
  size_t worse_rows = 0;
  for (const nlohmann::json& c : doc["changes"]) {
    if (c["verdict"] != "worse") continue;
    ++worse_rows;
    EXPECT_EQ(c["mode"], "lowat-user");
    EXPECT_EQ(c["metric"], "wakeups_per_frame");
    EXPECT_EQ(c["test"], "ranges");  // 3 repetitions a side: too few for the U test
    EXPECT_DOUBLE_EQ(c["ratio"].get<double>(), 2.0);
  }
  EXPECT_EQ(worse_rows, 1u);

  o = run_stdout("compare --json " + kSmallRun + " " + kSmallRun);
  EXPECT_EQ(o.exit_code, 0) << o.output;
  const nlohmann::json same = nlohmann::json::parse(o.output);
  EXPECT_EQ(same["verdict"], "not_worse");
  for (const nlohmann::json& c : same["changes"])
    if (c["a"].is_number() && c["b"].is_number()) EXPECT_EQ(c["verdict"], "within_noise") << c.dump();
  fs::remove_all(worse);
}

// Non-white pixels of an 8-bit RGB(A) PNG, decoded with Python's zlib (no image library).
constexpr const char* kCountInk = R"(
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
pos, idat, width, height, ctype = 8, b'', 0, 0, 0
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b'IHDR':
        width, height, depth, ctype = struct.unpack('>IIBB', body[:10])
        assert depth == 8 and ctype in (2, 6), 'unexpected PNG layout'
    elif kind == b'IDAT':
        idat += body
    pos += 12 + n
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), width * bpp
prev, ink, i = bytearray(stride), 0, 0
for _ in range(height):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    ink += sum(1 for x in range(0, stride, bpp) if min(line[x:x + 3]) < 200)
    prev = line
print(width, height, ink)
)";

TEST(ReportCli, HtmlRendersInHeadlessChromium) {
  if (std::system("command -v chromium >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "chromium not installed (tools/setup installs it)";
  if (std::system("command -v python3 >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not installed";
  const fs::path dir = scratch_dir("chromium");
  const fs::path html = dir / "report.html";
  ASSERT_EQ(run("report " + kSmallRun + " --html " + html.string()).exit_code, 0);
  const fs::path png = dir / "report.png";
  const std::string chromium =
      "timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking "
      "--disable-component-update --disable-sync --no-first-run --hide-scrollbars --user-data-dir=" +
      (dir / "profile").string() + " --window-size=1200,3200 --screenshot=" + png.string() + " file://" +
      html.string() + " >" + (dir / "chromium.log").string() + " 2>&1";
  ASSERT_EQ(std::system(chromium.c_str()), 0) << "see " << dir / "chromium.log";
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 50'000u);
  std::ofstream(dir / "ink.py") << kCountInk;
  int status = 0;
  const std::string counted = run_capture("python3 " + (dir / "ink.py").string() + " " + png.string(), &status);
  ASSERT_EQ(status, 0) << counted;
  std::istringstream fields(counted);
  long width = 0, height = 0, ink = 0;
  fields >> width >> height >> ink;
  EXPECT_EQ(width, 1200);
  // Tables, four plots and their text cover far more than a blank or error page.
  EXPECT_GT(ink, width * height / 50) << counted;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rcvq
