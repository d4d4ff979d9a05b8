// `rcvqbench run --kernel ...` end to end: argument checks, the VM runner's contract
// (through stand-in runners that run the guest command on the host), a failing VM, and
// the real thing: the host beside Debian's stock kernel booted by tools/vmrun.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "integration/run_cli.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

using rcvq::Result;
using rcvq::rcvqbench;

fs::path scratch_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("rcvq_kmx_cli_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return json();
  return json::parse(in);
}

// The one run directory a run created under --out.
fs::path run_dir_under(const fs::path& out) {
  fs::path found;
  for (const auto& e : fs::recursive_directory_iterator(out))
    if (e.path().filename() == "index.json") found = e.path().parent_path();
  return found;
}

std::string small_scenario(const fs::path& dir) {
  const fs::path path = dir / "small.yaml";
  std::ofstream(path) << "name: kmx-small\nsource: {synthetic: {frames: 20, payload: 1000}}\n"
                         "segmentation: {cut: {chunks: 2}, chunk_gap_us: 500}\nrun: {repetitions: 1}\n";
  return path.string();
}

// The smallest file the x86 boot protocol calls a bzImage, for runners that never boot it.
std::string fake_bzimage(const fs::path& path, const std::string& version) {
  std::string image(0x1000, '\0');
  image.replace(0x202, 4, "HdrS");
  image[0x20E] = char(0x400 & 0xff);
  image[0x20F] = char(0x400 >> 8);
  image.replace(0x600, version.size(), version);
  std::ofstream(path, std::ios::binary) << image;
  return path.string();
}

std::string executable_script(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
  fs::permissions(path, fs::perms::owner_all);
  return path.string();
}

// Stands in for tools/vmrun: records its arguments, then runs the command on the host
// with the environment a TCG guest gets.
std::string tcg_standin_vmrun(const fs::path& dir) {
  return executable_script(dir / "vmrun", "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + (dir / "vmrun.args").string() +
                                              "\n"
                                              "kernel=\n"
                                              "while [ $# -gt 0 ]; do\n"
                                              "  case \"$1\" in\n"
                                              "    --kernel) kernel=$2; shift 2 ;;\n"
                                              "    --) shift; break ;;\n"
                                              "    *) shift 2 ;;\n"
                                              "  esac\n"
                                              "done\n"
                                              "RCVQBENCH_VM_ACCEL=tcg RCVQBENCH_VM_KERNEL=$kernel exec \"$@\"\n");
}

TEST(KernelMatrix, BadKernelArgumentsExitTwoBeforeAnythingRuns) {
  const fs::path dir = scratch_dir("bad");
  const std::string scenario = small_scenario(dir);
  std::ofstream(dir / "notes.txt") << "not a kernel\n";
  const std::string out = " --quiet --out " + (dir / "results").string();
  for (const std::string& kernel : {(dir / "missing").string(), (dir / "notes.txt").string()}) {
    const Result r = rcvqbench("run " + scenario + " --kernel host --kernel " + kernel + out);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("--kernel " + kernel + ": "), std::string::npos) << r.output;
  }
  EXPECT_EQ(rcvqbench("run " + scenario + " --kernel host --kernel host" + out).code, 2);
  EXPECT_EQ(rcvqbench("run " + scenario + " --kernel host --modes baseline,telepathy" + out).code, 2);
  EXPECT_EQ(rcvqbench("run " + scenario + " --kernel host --results-dir " + (dir / "x").string()).code, 2);
  EXPECT_FALSE(fs::exists(dir / "results")) << "nothing may run before the input is checked";
  fs::remove_all(dir);
}

TEST(KernelMatrix, MissingVmRunnerExitsTwoNamingIt) {
  const fs::path dir = scratch_dir("novmrun");
  const std::string image = fake_bzimage(dir / "bzImage", "6.1.0-fake #1");
  const Result r = rcvqbench("run " + small_scenario(dir) + " --quiet --kernel " + image + " --out " +
                                 (dir / "results").string(),
                             "RCVQBENCH_VMRUN=" + (dir / "no-vmrun").string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("RCVQBENCH_VMRUN=" + (dir / "no-vmrun").string()), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "results"));
  fs::remove_all(dir);
}

TEST(KernelMatrix, GuestRunGoesThroughTheVmRunnerAndIsMarkedTcg) {
  const fs::path dir = scratch_dir("standin");
  const std::string image = fake_bzimage(dir / "bzImage", "6.1.0-fake (x@y) #1 SMP");
  const Result r = rcvqbench("run " + small_scenario(dir) + " --quiet --modes baseline,lowat-user --kernel host "
                                 "--kernel " + image + " --out " + (dir / "results").string(),
                             "RCVQBENCH_VMRUN=" + tcg_standin_vmrun(dir));
  ASSERT_EQ(r.code, 0) << r.output;
  const fs::path run_dir = run_dir_under(dir / "results");
  ASSERT_FALSE(run_dir.empty()) << r.output;
  const json index = read_json(run_dir / "index.json");
  EXPECT_TRUE(index["complete"]) << index.dump(2);
  ASSERT_EQ(index["kernels"].size(), 2u);
  const json& host = index["kernels"][0];
  const json& guest = index["kernels"][1];
  EXPECT_EQ(host["label"], "host");
  EXPECT_EQ(host["accel"], "host");
  EXPECT_EQ(host["timing_comparable"], true);
  EXPECT_EQ(guest["label"], "6.1.0-fake");
  EXPECT_EQ(guest["bzimage"], fs::canonical(image).string());
  EXPECT_EQ(guest["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(guest["accel"], "tcg");
  EXPECT_EQ(guest["timing_comparable"], false);
  EXPECT_EQ(guest["status"], "ok");
  EXPECT_EQ(guest["exit_code"], 0);
  EXPECT_EQ(guest["run_json"], "6.1.0-fake/run.json");

  const json guest_run = read_json(run_dir / "6.1.0-fake" / "run.json");
  EXPECT_EQ(guest_run["host"]["vm"]["accel"], "tcg");
  EXPECT_EQ(guest_run["host"]["vm"]["kernel"], fs::canonical(image).string());
  EXPECT_EQ(guest_run["timing_comparable"], false);
  EXPECT_EQ(guest_run["modes"]["baseline"]["metrics"]["timing_comparable"], false);
  EXPECT_TRUE(fs::exists(run_dir / "6.1.0-fake" / "baseline.hgrm"));
  EXPECT_EQ(read_json(run_dir / "host" / "run.json")["timing_comparable"], true);

  // The runner got the run directory as its writable share and a bounded timeout; the
  // guest command is this binary on the same scenario into the kernel's subdirectory.
  std::ifstream args_file(dir / "vmrun.args");
  std::stringstream args;
  args << args_file.rdbuf();
  for (const std::string& expected : {"--share\n" + run_dir.string() + "\n", std::string("--timeout\n"),
                                      "--console-log\n" + (run_dir / "6.1.0-fake" / "console.log").string() + "\n",
                                      "--results-dir\n" + (run_dir / "6.1.0-fake").string() + "\n",
                                      std::string("--modes\nbaseline,lowat-user\n")})
    EXPECT_NE(args.str().find(expected), std::string::npos) << expected << " in\n" << args.str();

  EXPECT_NE(r.output.find("== kernel 2/2: 6.1.0-fake"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("~ times not comparable with the host"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("== kernels side by side =="), std::string::npos) << r.output;

  const Result report = rcvqbench("report " + run_dir.string());
  EXPECT_EQ(report.code, 0) << report.output;
  EXPECT_NE(report.output.find("NOT comparable"), std::string::npos) << report.output;
  EXPECT_TRUE(fs::exists(run_dir / "report.html"));
  const Result compare = rcvqbench("compare " + run_dir.string());
  EXPECT_EQ(compare.code, 0) << compare.output;
  EXPECT_NE(compare.output.find("not comparable (tcg)"), std::string::npos) << compare.output;
  const Result pair = rcvqbench("compare " + (run_dir / "host").string() + " " + (run_dir / "6.1.0-fake").string());
  EXPECT_EQ(pair.code, 0) << pair.output;
  EXPECT_NE(pair.output.find("not comparable (tcg)"), std::string::npos) << pair.output;
  EXPECT_EQ(rcvqbench("compare " + (run_dir / "host").string()).code, 2);
  EXPECT_EQ(rcvqbench("compare " + run_dir.string() + " " + (run_dir / "host").string()).code, 2);
  fs::remove_all(dir);
}

TEST(KernelMatrix, FailedVmIsRecordedAndTheOtherKernelsStillRun) {
  const fs::path dir = scratch_dir("failing");
  const std::string image = fake_bzimage(dir / "bzImage", "6.1.0-broken #1");
  const std::string vmrun = executable_script(dir / "vmrun", "#!/bin/sh\necho 'qemu: boom' >&2\nexit 125\n");
  const Result r = rcvqbench("run " + small_scenario(dir) + " --quiet --modes baseline --kernel " + image +
                                 " --kernel host --out " + (dir / "results").string(),
                             "RCVQBENCH_VMRUN=" + vmrun);
  EXPECT_EQ(r.code, 1) << r.output;
  const fs::path run_dir = run_dir_under(dir / "results");
  const json index = read_json(run_dir / "index.json");
  EXPECT_TRUE(index["complete"]) << index.dump(2);
  ASSERT_EQ(index["kernels"].size(), 2u);
  const json& broken = index["kernels"][0];
  EXPECT_EQ(broken["status"], "failed");
  EXPECT_EQ(broken["exit_code"], 125);
  EXPECT_NE(broken["reason"].get<std::string>().find("qemu: boom"), std::string::npos) << broken.dump(2);
  EXPECT_EQ(broken["run_json"], nullptr);
  EXPECT_EQ(broken["accel"], nullptr);
  EXPECT_EQ(index["kernels"][1]["status"], "ok");
  EXPECT_TRUE(fs::exists(run_dir / "host" / "run.json"));
  EXPECT_NE(r.output.find("failed [1]"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

// The stock Debian kernel has no AutoLOWAT hook; the host kernel here has none either.
TEST(KernelMatrix, HostAndStockKernelSideBySide) {
  const fs::path vmrun = fs::path(RCVQ_SOURCE_DIR) / "tools" / "vmrun";
  if (!fs::exists(vmrun)) GTEST_SKIP() << vmrun << " has not landed yet: no VM runner to boot the stock kernel";
  std::string stock;
  for (const auto& e : fs::directory_iterator("/boot"))
    if (e.path().filename().string().starts_with("vmlinuz-")) stock = e.path().string();
  if (stock.empty()) GTEST_SKIP() << "no /boot/vmlinuz-* (Debian's linux-image-amd64) to boot";

  const fs::path dir = scratch_dir("stock");
  // The quickstart, shortened: TCG runs ~10x slower than the host.
  std::ifstream quickstart_file(std::string(RCVQ_SOURCE_DIR) + "/configs/quickstart.yaml");
  std::stringstream quickstart;
  quickstart << quickstart_file.rdbuf();
  std::string text = quickstart.str();
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"frames: 150", "frames: 40"},
                                 {"repetitions: 3", "repetitions: 1"}, {"warmup_frames: 10", "warmup_frames: 5"}}) {
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << "configs/quickstart.yaml no longer has '" << from << "'";
    text.replace(at, from.size(), to);
  }
  std::ofstream(dir / "quickstart-short.yaml") << text;

  const Result r = rcvqbench("run " + (dir / "quickstart-short.yaml").string() +
                             " --quiet --modes baseline,lowat-user,autolowat --kernel host --kernel " + stock +
                             " --vm-timeout 240 --out " + (dir / "results").string());
  ASSERT_EQ(r.code, 0) << r.output;
  const fs::path run_dir = run_dir_under(dir / "results");
  const json index = read_json(run_dir / "index.json");
  EXPECT_TRUE(index["complete"]) << index.dump(2);
  ASSERT_EQ(index["kernels"].size(), 2u) << index.dump(2);
  EXPECT_EQ(index["kernels"][0]["accel"], "host");
  const std::string accel = index["kernels"][1]["accel"].is_string() ? index["kernels"][1]["accel"].get<std::string>() : "";
  EXPECT_TRUE(accel == "tcg" || accel == "kvm") << index.dump(2);
  EXPECT_EQ(index["kernels"][1]["timing_comparable"], accel != "tcg");
  for (const json& kernel : index["kernels"]) {
    const std::string label = kernel["label"];
    ASSERT_EQ(kernel["status"], "ok") << kernel.dump(2);
    const json run = read_json(run_dir / kernel["run_json"].get<std::string>());
    ASSERT_TRUE(run.is_object()) << label;
    const json& autolowat = run["modes"]["autolowat"];
    EXPECT_EQ(autolowat["status"], "unsupported") << label;
    EXPECT_FALSE(autolowat["reason"].get<std::string>().empty()) << label;
    const double baseline = run["modes"]["baseline"]["metrics"]["wakeups_per_frame"];
    const double lowat_user = run["modes"]["lowat-user"]["metrics"]["wakeups_per_frame"];
    EXPECT_GT(baseline, lowat_user) << label;
  }
  const json guest = read_json(run_dir / index["kernels"][1]["run_json"].get<std::string>());
  EXPECT_EQ(guest["host"]["vm"]["accel"], accel);
  EXPECT_EQ(guest["host"]["kernel"], index["kernels"][1]["kernel_release"]);
  fs::remove_all(dir);
}

}  // namespace
