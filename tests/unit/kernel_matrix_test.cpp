// Runs over several kernels: bzImage names, the index.json contract, the modes x kernels
// table, the multi-kernel report and compare, and the TCG timing marks in run.json,
// compare and the gate.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/errors.hpp"
#include "common/sha256.hpp"
#include "gate/gate.hpp"
#include "kernels/index.hpp"
#include "kernels/kernel_spec.hpp"
#include "kernels/side_by_side.hpp"
#include "report/compare.hpp"
#include "report/kernel_report.hpp"
#include "report/run_table.hpp"
#include "results/run_result.hpp"
#include "results/writer.hpp"
#include "unit/scratch_dir.hpp"

namespace rcvq {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

size_t occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// The smallest file the x86 boot protocol calls a bzImage: the setup header's magic and
// a version string where its pointer says.
fs::path fake_bzimage(const fs::path& path, const std::string& version) {
  std::string image(0x1000, '\0');
  image.replace(0x202, 4, "HdrS");
  const size_t pointer = 0x600 - 0x200;
  image[0x20E] = char(pointer & 0xff);
  image[0x20F] = char(pointer >> 8);
  image.replace(0x600, version.size(), version);
  std::ofstream(path, std::ios::binary) << image;
  return path;
}

// The stored small run as if a tools/vmrun guest under `accel` had written it.
json run_json_in_vm(const std::string& accel) {
  std::ifstream in(kSmallRun + "/run.json");
  json run = json::parse(in);
  run["host"]["vm"] = {{"accel", accel}, {"kernel", "/boot/vmlinuz-test"}};
  run["host"]["kernel"] = "6.1.0-test";
  return run;
}

// A multi-kernel run directory: host = the stored small run, tcg = the same under TCG,
// broken = a kernel whose VM never came up.
fs::path matrix_dir(const std::string& name) {
  const fs::path dir = scratch_dir("rcvq_kmx", name);
  fs::copy(kSmallRun, dir / "host");
  fs::copy(kSmallRun, dir / "6.1.0-test");
  std::ofstream(dir / "6.1.0-test" / "run.json") << run_json_in_vm("tcg").dump(2);
  KernelIndex index;
  index.complete = true;
  index.started_utc = "2026-12-02T00-00-00Z";
  index.scenario = {{"name", "small"}, {"path", "/x/small.yaml"}};
  index.modes = {"baseline", "lowat-user", "strparser", "autolowat", "autolowat-model"};
  KernelRunEntry host;
  host.label = "host";
  host.requested = "host";
  host.kernel_release = "6.18.44";
  host.accel = "host";
  host.timing_comparable = true;
  host.status = "ok";
  host.exit_code = 0;
  host.run_json = "host/run.json";
  KernelRunEntry tcg = host;
  tcg.label = tcg.kernel_release = "6.1.0-test";
  tcg.requested = tcg.bzimage = "/boot/vmlinuz-test";
  tcg.sha256 = std::string(64, 'a');
  tcg.accel = "tcg";
  tcg.timing_comparable = false;
  tcg.timing_reason = "under TCG";
  tcg.run_json = "6.1.0-test/run.json";
  tcg.console_log = "6.1.0-test/console.log";
  KernelRunEntry broken = tcg;
  broken.label = "broken";
  broken.accel = "";
  broken.timing_comparable.reset();
  broken.status = "failed";
  broken.exit_code = 125;
  broken.reason = "the VM failed to boot or run (vmrun exit 125): qemu: boom";
  broken.run_json = "";
  index.kernels = {host, tcg, broken};
  write_kernel_index(dir.string(), index);
  return dir;
}

TEST(KernelMatrix, Sha256MatchesTheFipsVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1'000'000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  const fs::path dir = scratch_dir("rcvq_kmx", "sha");
  std::ofstream(dir / "f") << std::string(100'000, 'x');  // spans several read chunks
  EXPECT_EQ(sha256_of_file((dir / "f").string()), sha256_hex(std::string(100'000, 'x')));
  fs::remove_all(dir);
}

TEST(KernelMatrix, ReleaseComesFromTheBzImageSetupHeader) {
  const fs::path dir = scratch_dir("rcvq_kmx", "release");
  const fs::path image = fake_bzimage(dir / "bzImage", "6.12.117-rcvq (me@host) #1 SMP");
  EXPECT_EQ(bzimage_version_string(image.string()), "6.12.117-rcvq (me@host) #1 SMP");
  const std::vector<KernelChoice> kernels = resolve_kernels({"host", image.string()});
  ASSERT_EQ(kernels.size(), 2u);
  EXPECT_TRUE(kernels[0].host);
  EXPECT_EQ(kernels[0].label, "host");
  EXPECT_FALSE(kernels[0].release.empty());
  EXPECT_EQ(kernels[1].label, "6.12.117-rcvq");
  EXPECT_EQ(kernels[1].release, "6.12.117-rcvq");
  EXPECT_EQ(kernels[1].bzimage, fs::canonical(image).string());
  EXPECT_EQ(kernels[1].sha256, sha256_of_file(image.string()));
  for (const fs::path& stock : fs::directory_iterator("/boot")) {
    if (!stock.filename().string().starts_with("vmlinuz-")) continue;
    EXPECT_EQ(resolve_kernels({stock.string()})[0].label, stock.filename().string().substr(8)) << stock;
  }
  fs::remove_all(dir);
}

TEST(KernelMatrix, CollidingReleasesGetAShortHashOfTheirPath) {
  const fs::path dir = scratch_dir("rcvq_kmx", "collide");
  const fs::path a = fake_bzimage(dir / "a", "6.12.117 #1"), b = fake_bzimage(dir / "b", "6.12.117 #2");
  const std::vector<KernelChoice> kernels = resolve_kernels({a.string(), b.string()});
  EXPECT_EQ(kernels[0].label, "6.12.117-" + sha256_hex(fs::canonical(a).string()).substr(0, 8));
  EXPECT_EQ(kernels[1].label, "6.12.117-" + sha256_hex(fs::canonical(b).string()).substr(0, 8));
  EXPECT_NE(kernels[0].label, kernels[1].label);
  fs::remove_all(dir);
}

TEST(KernelMatrix, BadKernelArgumentsAreInputErrorsNamingThem) {
  const fs::path dir = scratch_dir("rcvq_kmx", "bad");
  std::ofstream(dir / "notes.txt") << "not a kernel\n";
  auto message = [](const std::vector<std::string>& args) {
    try {
      resolve_kernels(args);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({(dir / "missing").string()}).find((dir / "missing").string() + ": no such file"),
            std::string::npos);
  EXPECT_NE(message({(dir / "notes.txt").string()}).find("not a bzImage"), std::string::npos);
  EXPECT_NE(message({"host", "host"}).find("given twice"), std::string::npos);
  const fs::path image = fake_bzimage(dir / "bz", "6.1.0 #1");
  EXPECT_NE(message({image.string(), (dir / "." / "bz").string()}).find("given twice"), std::string::npos);
  fs::remove_all(dir);
}

TEST(KernelMatrix, IndexRoundTripsThroughItsFile) {
  const fs::path dir = matrix_dir("index");
  const json doc = json::parse(std::ifstream(dir / "index.json"));
  EXPECT_EQ(doc["format"], kKernelIndexFormat);
  EXPECT_TRUE(doc["complete"]);
  ASSERT_EQ(doc["kernels"].size(), 3u);
  EXPECT_EQ(doc["kernels"][0]["bzimage"], nullptr);  // the host has no image
  EXPECT_EQ(doc["kernels"][1]["accel"], "tcg");
  EXPECT_EQ(doc["kernels"][1]["timing_comparable"], false);
  EXPECT_EQ(doc["kernels"][2]["timing_comparable"], nullptr);  // never reported where it ran
  EXPECT_EQ(doc["kernels"][2]["exit_code"], 125);
  EXPECT_FALSE(fs::exists(dir / "index.json.tmp"));

  const KernelIndex back = read_kernel_index(dir.string());
  EXPECT_EQ(to_json(back), doc);
  EXPECT_EQ(back.kernels[1].sha256, std::string(64, 'a'));
  EXPECT_EQ(back.kernels[1].console_log, "6.1.0-test/console.log");
  EXPECT_FALSE(back.kernels[2].timing_comparable.has_value());
  EXPECT_TRUE(is_kernel_matrix_dir(dir.string()));
  EXPECT_FALSE(is_kernel_matrix_dir(kSmallRun));

  const KernelMatrix matrix = load_kernel_matrix(dir.string());
  ASSERT_EQ(matrix.runs.size(), 3u);
  EXPECT_TRUE(matrix.runs[0] && matrix.runs[1]);
  EXPECT_FALSE(matrix.runs[2]);
  EXPECT_EQ(matrix.runs[1]->timing_domain(), "tcg");
  fs::remove_all(dir);
}

TEST(KernelMatrix, ForeignOrBrokenIndexIsAnInputErrorNamingTheFile) {
  const fs::path dir = scratch_dir("rcvq_kmx", "foreign");
  fs::copy_file(kSmallRun + "/run.json", dir / "index.json");
  try {
    read_kernel_index(dir.string());
    FAIL() << "a run.json read as an index";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "index.json").string()), std::string::npos) << e.what();
  }
  std::ofstream(dir / "index.json") << R"({"format": "rcvqbench-kernels/1", "kernels": [{"label": 3}]})";
  EXPECT_THROW(read_kernel_index(dir.string()), InputError);
  fs::remove_all(dir);
}

TEST(KernelMatrix, SideBySideTableHasModesByKernelsWithNumberedReasons) {
  const fs::path dir = matrix_dir("table");
  const KernelSideBySide table = kernel_side_by_side(load_kernel_matrix(dir.string()));
  EXPECT_EQ(table.kernels, (std::vector<std::string>{"host", "6.1.0-test", "broken"}));
  EXPECT_EQ(table.accels, (std::vector<std::string>{"host", "tcg", "?"}));
  ASSERT_EQ(table.modes.front(), "baseline");
  EXPECT_EQ(table.cells[0][0].kind, KernelModeCell::Kind::kMeasured);
  EXPECT_EQ(table.cells[0][2].kind, KernelModeCell::Kind::kFailed);

  std::ostringstream out;
  print_kernel_side_by_side(out, table);
  const std::string text = out.str();
  const LoadedRun small = load_run(kSmallRun);
  const json& baseline = small.metrics("baseline");
  const std::string baseline_cell = fmt::format("{:.2f} / {:.2f}", baseline["wakeups_per_frame"].get<double>(),
                                                baseline["syscalls_per_frame"].get<double>());
  std::istringstream lines(text);
  std::string header, accels, baseline_row;
  std::getline(lines, header);
  std::getline(lines, accels);
  std::getline(lines, baseline_row);
  EXPECT_NE(header.find("host"), std::string::npos);
  EXPECT_NE(header.find("6.1.0-test"), std::string::npos);
  EXPECT_NE(accels.find("(tcg)"), std::string::npos);
  EXPECT_TRUE(baseline_row.starts_with("baseline")) << text;
  // Counts are the same under both clocks; the kernel that never ran says failed.
  EXPECT_EQ(occurrences(baseline_row, baseline_cell), 2u) << text;
  EXPECT_NE(baseline_row.find("failed ["), std::string::npos) << text;
  // autolowat's reason is the same on both kernels: one note, referenced twice.
  const std::string autolowat_reason = small.mode("autolowat")["reason"].get<std::string>();
  EXPECT_EQ(text.find(autolowat_reason), text.rfind(autolowat_reason)) << text;
  EXPECT_NE(text.find("] " + autolowat_reason), std::string::npos) << text;
  EXPECT_NE(text.find("] the VM failed to boot or run (vmrun exit 125): qemu: boom"), std::string::npos) << text;
  EXPECT_NE(text.find("* predicted"), std::string::npos) << text;
  EXPECT_NE(text.find("(tcg): counts hold"), std::string::npos) << text;
  fs::remove_all(dir);
}

TEST(KernelMatrix, RunJsonUnderTcgMarksItsTimesNotComparable) {
  RunResult run;
  run.host = {{"kernel", "6.1.0"}, {"vm", {{"accel", "tcg"}, {"kernel", "/boot/vmlinuz-6.1.0"}}}};
  run.timing = timing_comparability(run.host);
  ModeResult& m = run.modes.emplace_back();
  m.mode = "baseline";
  ModeRepetition& r = m.repetitions.emplace_back();
  r.frames = 10;
  r.counters.wakeups = 90;
  r.cpu_us = Measured::of(500);
  r.latency.record(120'000);
  r.wall_ns = 1'000'000'000;
  r.integrity_ok = true;

  const json j = to_json(run);
  EXPECT_EQ(j["timing_comparable"], false);
  EXPECT_NE(j["timing_reason"].get<std::string>().find("TCG"), std::string::npos);
  const json& metrics = j["modes"]["baseline"]["metrics"];
  EXPECT_EQ(metrics["timing_comparable"], false);
  EXPECT_EQ(metrics["timing_reason"], j["timing_reason"]);
  for (const char* key : {"cpu_us_per_frame", "latency_ns", "frames_per_s"})
    EXPECT_NE(std::find(metrics["timing_metrics"].begin(), metrics["timing_metrics"].end(), key),
              metrics["timing_metrics"].end())
        << key;
  EXPECT_DOUBLE_EQ(metrics["wakeups_per_frame"].get<double>(), 9.0);  // counts untouched
  EXPECT_DOUBLE_EQ(metrics["cpu_us_per_frame"].get<double>(), 50.0);

  std::ostringstream table;
  print_run_table(table, run);
  EXPECT_NE(table.str().find("50.00~"), std::string::npos) << table.str();
  EXPECT_NE(table.str().find("~ times not comparable with the host: "), std::string::npos) << table.str();

  // On the host (or under KVM) the same run says its times compare, and nothing is marked.
  for (const json& host : {json{{"kernel", "6.18"}}, json{{"vm", {{"accel", "kvm"}, {"kernel", "k"}}}}}) {
    run.host = host;
    run.timing = timing_comparability(run.host);
    EXPECT_EQ(to_json(run)["timing_comparable"], true);
    EXPECT_FALSE(to_json(run)["modes"]["baseline"]["metrics"].contains("timing_metrics"));
    std::ostringstream plain;
    print_run_table(plain, run);
    EXPECT_EQ(plain.str().find('~'), std::string::npos) << plain.str();
  }
}

TEST(KernelMatrix, CompareCallsTimesNotComparableBetweenTcgAndHost) {
  const fs::path dir = matrix_dir("compare");
  const LoadedRun host = load_run((dir / "host").string());
  const LoadedRun tcg = load_run((dir / "6.1.0-test").string());
  bool saw_timing = false, saw_count = false;
  for (const MetricChange& c : compare_runs(host, tcg)) {
    if (!c.a || !c.b) continue;
    if (is_timing(*c.spec)) {
      saw_timing = true;
      EXPECT_EQ(c.verdict, NoiseVerdict::kNotComparable) << c.mode << " " << c.spec->label;
      EXPECT_EQ(c.why_unknown, "not comparable (tcg)");
    } else {
      saw_count = true;
      EXPECT_NE(c.verdict, NoiseVerdict::kNotComparable) << c.mode << " " << c.spec->label;
    }
  }
  EXPECT_TRUE(saw_timing && saw_count);
  // Two TCG runs share the emulated clock: their times are compared as usual.
  for (const MetricChange& c : compare_runs(tcg, tcg)) EXPECT_NE(c.verdict, NoiseVerdict::kNotComparable);

  std::ostringstream out;
  print_kernel_matrix_comparison(out, load_kernel_matrix(dir.string()));
  EXPECT_NE(out.str().find("=== A = host vs B = 6.1.0-test ==="), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("not comparable (tcg)"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("times not comparable (tcg): A ran on host, B on tcg"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("broken: no run.json (failed: "), std::string::npos) << out.str();
  fs::remove_all(dir);
}

TEST(KernelMatrix, GateDoesNotCompareTimesBetweenTcgAndHost) {
  const json host = json::parse(std::ifstream(kSmallRun + "/run.json"));
  const BenchmarkFile baseline = parse_benchmark_json(host, "host.json");
  const BenchmarkFile current = parse_benchmark_json(run_json_in_vm("tcg"), "tcg.json");
  const GateReport report = compare_benchmark_files(baseline, current, default_gate_policy());
  bool saw_timing = false;
  for (const GateRow& row : report.rows) {
    if (row.policy.starts_with("timing") && row.verdict != GateVerdict::Unsupported) {
      saw_timing = true;
      EXPECT_EQ(row.verdict, GateVerdict::NotCompared) << row.benchmark << " " << row.metric;
      EXPECT_EQ(row.note, "not comparable (tcg)") << row.benchmark << " " << row.metric;
    }
  }
  EXPECT_TRUE(saw_timing);
  EXPECT_FALSE(report.failed());
  std::ostringstream out;
  print_gate_report(out, report, baseline, current);
  EXPECT_NE(out.str().find("note: times not comparable (tcg): baseline ran on host, current on tcg"), std::string::npos)
      << out.str();
}

TEST(KernelMatrix, ReportPutsKernelsSideBySideAndLinksTheirOwnReports) {
  const fs::path dir = matrix_dir("report");
  std::ostringstream out;
  const ReportFiles files = write_kernel_matrix_report({dir.string(), ""}, out);
  const std::string text = out.str();
  EXPECT_NE(text.find("(3 kernels)"), std::string::npos) << text;
  EXPECT_NE(text.find("NOT comparable"), std::string::npos) << text;
  EXPECT_NE(text.find("wakeups / syscalls per frame"), std::string::npos) << text;
  EXPECT_NE(text.find("~ time measured in a VM under TCG"), std::string::npos) << text;
  // The TCG kernel's CPU and latency are marked, the host's are not.
  std::istringstream lines(text);
  bool saw_marked_latency = false;
  for (std::string line; std::getline(lines, line);)
    if (line.find("latency p50") != std::string::npos) {
      saw_marked_latency = saw_marked_latency || line.find('~') != std::string::npos;
      EXPECT_EQ(line.find('~'), line.rfind('~')) << line;  // one marked cell: the tcg one
    }
  EXPECT_TRUE(saw_marked_latency) << text;
  EXPECT_EQ(files.html, (dir / "report.html").string());
  EXPECT_TRUE(fs::exists(dir / "host" / "report.html"));
  EXPECT_TRUE(fs::exists(dir / "6.1.0-test" / "report.html"));
  std::ostringstream html;
  html << std::ifstream(files.html).rdbuf();
  EXPECT_NE(html.str().find("href=\"host/report.html\""), std::string::npos);
  EXPECT_NE(html.str().find("href=\"6.1.0-test/report.html\""), std::string::npos);
  EXPECT_NE(html.str().find("class=\"num incomparable\""), std::string::npos);
  EXPECT_NE(html.str().find("qemu: boom"), std::string::npos);
  fs::remove_all(dir);
}

TEST(KernelMatrix, CompareJsonAndExitCodeJudgeEveryKernelAgainstTheFirst) {
  const fs::path dir = matrix_dir("compare_json");
  json doc = kernel_matrix_comparison_json(load_kernel_matrix(dir.string()));
  EXPECT_EQ(doc["format"], "rcvqbench-compare/1");
  EXPECT_EQ(doc["reference"], "host");
  ASSERT_EQ(doc["kernels"].size(), 2u);
  EXPECT_EQ(doc["kernels"][0]["b"], "6.1.0-test");
  EXPECT_EQ(doc["kernels"][0]["comparison"]["exit_code"], 0);
  EXPECT_TRUE(doc["kernels"][1]["comparison"].is_null());
  EXPECT_TRUE(doc["kernels"][1]["reason"].get<std::string>().starts_with("no run.json (failed: ")) << doc["kernels"][1];
  EXPECT_EQ(doc["exit_code"], 0);
  std::ostringstream out;
  EXPECT_EQ(print_kernel_matrix_comparison(out, load_kernel_matrix(dir.string())), 0);

  // Twice the wakeups under the second kernel: a count, judged across clocks, and worse.
  json run = json::parse(std::ifstream(dir / "6.1.0-test" / "run.json"));
  json& baseline = run["modes"]["baseline"];
  baseline["metrics"]["wakeups_per_frame"] = baseline["metrics"]["wakeups_per_frame"].get<double>() * 2;
  for (json& rep : baseline["repetitions"]) rep["wakeups_per_frame"] = rep["wakeups_per_frame"].get<double>() * 2;
  std::ofstream(dir / "6.1.0-test" / "run.json") << run.dump(2);
  doc = kernel_matrix_comparison_json(load_kernel_matrix(dir.string()));
  EXPECT_EQ(doc["verdict"], "worse");
  EXPECT_EQ(doc["exit_code"], kCompareExitWorse);
  EXPECT_EQ(print_kernel_matrix_comparison(out, load_kernel_matrix(dir.string())), kCompareExitWorse);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rcvq
