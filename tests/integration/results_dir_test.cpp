// `run` never loses a measurement to its results directory: unusable destinations are
// refused before measuring, a full disk keeps the results at a named place, concurrent
// runs into one --out each get a whole directory, and symlinks in --out are not followed.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "integration/run_cli.hpp"
#include "unit/scratch_dir.hpp"

namespace rcvq {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// One mode, one repetition, a few frames: a second or so of measuring.
std::string short_scenario(const fs::path& dir, const std::string& name) {
  const fs::path path = dir / (name + ".yaml");
  std::ofstream(path) << "name: " << name
                      << "\nsource: {synthetic: {frames: 6, payload: 1000}}\n"
                         "segmentation: {cut: {chunks: 2}, chunk_gap_us: 200}\n"
                         "receiver: {modes: [baseline]}\nrun: {repetitions: 1}\n";
  return path.string();
}

// Its plan alone lasts 20 s, so a run that returns sooner measured nothing.
constexpr double kSlowPlanSeconds = 20;
std::string slow_scenario(const fs::path& dir, const std::string& name_line) {
  const fs::path path = dir / "slow.yaml";
  std::ofstream(path) << name_line
                      << "\nsource: {synthetic: {frames: 21, payload: 1000}}\n"
                         "segmentation: {frame_gap_us: 1000000}\nreceiver: {modes: [baseline]}\nrun: {repetitions: 1}\n";
  return path.string();
}

std::vector<fs::path> files_named(const fs::path& root, const std::function<bool(const std::string&)>& match) {
  std::vector<fs::path> found;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (match(e.path().filename().string())) found.push_back(e.path());
  return found;
}

bool is_temporary(const std::string& name) { return name.find(".tmp") != std::string::npos; }

// A tmpfs mounted for the test and unmounted when it ends, whatever happens.
class ScratchMount {
 public:
  ScratchMount(const fs::path& at, unsigned long flags, const std::string& options) : at_(at) {
    fs::create_directories(at);
    mounted_ = mount("tmpfs", at.c_str(), "tmpfs", flags, options.c_str()) == 0;
  }
  ~ScratchMount() {
    if (mounted_) umount2(at_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  fs::path at_;
  bool mounted_ = false;
};

struct BadDestination {
  std::string label;
  std::string args;         // after `run SCENARIO`
  std::string name_line;    // the scenario's name: line
  std::string names;        // what the message must name
};

TEST(ResultsDir, UnusableDestinationsExitTwoBeforeMeasuringNamingThem) {
  const fs::path dir = scratch_dir("results_dir", "unusable");
  std::ofstream(dir / "a-file") << "x";
  auto read_only = std::make_unique<ScratchMount>(dir / "read-only", MS_RDONLY, "size=64k");
  ASSERT_TRUE(read_only->mounted()) << strerror(errno);
  fs::create_directories(dir / "shared-out");
  fs::create_directories(dir / "victim");
  fs::create_directory_symlink(dir / "victim", dir / "shared-out" / "slow");
  const std::string long_component = (dir / std::string(300, 'o')).string();
  const std::vector<BadDestination> cases = {
      {"a file", "--out " + (dir / "a-file").string(), "name: slow", (dir / "a-file").string()},
      {"/proc", "--out /proc", "name: slow", "/proc"},
      {"/sys", "--out /sys", "name: slow", "/sys"},
      {"/dev/null", "--out /dev/null", "name: slow", "/dev/null"},
      {"a read-only mount", "--out " + (dir / "read-only").string(), "name: slow", (dir / "read-only").string()},
      {"a too long --out", "--out " + long_component, "name: slow", long_component},
      {"--results-dir in /proc", "--results-dir /proc/rcvq", "name: slow", "--results-dir /proc/rcvq"},
      {"a symlinked scenario directory", "--out " + (dir / "shared-out").string(), "name: slow",
       (dir / "shared-out" / "slow").string() + " is a symbolic link"},
      {"a 300-byte name", "--out " + (dir / "ok").string(), "name: " + std::string(300, 'n'), "slow.yaml:1:"},
      {"a name with a NUL", "--out " + (dir / "ok").string(), "name: \"a\\0b\"", "slow.yaml:1:"},
  };
  for (const BadDestination& c : cases) {
    const std::string scenario = slow_scenario(dir, c.name_line);
    const auto start = std::chrono::steady_clock::now();
    const Result r = rcvqbench("run " + scenario + " " + c.args);  // not --quiet: progress would show
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(r.code, 2) << c.label << ": " << r.output;
    EXPECT_NE(r.output.find(c.names), std::string::npos) << c.label << ": " << r.output;
    EXPECT_LT(seconds, kSlowPlanSeconds) << c.label << ": it measured";
    EXPECT_EQ(r.output.find("[1/1]"), std::string::npos) << c.label << ": progress shown: " << r.output;
    EXPECT_EQ(r.output.find("wakeups/frame"), std::string::npos) << c.label << ": " << r.output;
  }
  EXPECT_TRUE(fs::is_empty(dir / "victim"));
  read_only.reset();
  fs::remove_all(dir);
}

TEST(ResultsDir, AFullDiskKeepsTheResultsWhereTheMessageSaysAndExitsOne) {
  const fs::path dir = scratch_dir("results_dir", "full");
  const fs::path out = dir / "out", elsewhere = dir / "tmp";
  fs::create_directories(elsewhere);
  auto full = std::make_unique<ScratchMount>(out, 0, "size=4k");
  ASSERT_TRUE(full->mounted()) << strerror(errno);
  {
    std::ofstream filler(out / "filler");
    const std::string page(4096, 'f');
    for (int i = 0; i < 16 && filler; ++i) filler << page << std::flush;
  }
  const Result r = rcvqbench("run " + short_scenario(dir, "full") + " --quiet --out " + out.string(),
                             "TMPDIR=" + elsewhere.string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("wakeups/frame"), std::string::npos) << "the table must come first: " << r.output;
  EXPECT_NE(r.output.find("No space left on device"), std::string::npos) << r.output;
  const std::smatch kept = [&] {
    std::smatch m;
    std::regex_search(r.output, m, std::regex("kept in (\\S+) instead"));
    return m;
  }();
  ASSERT_EQ(kept.size(), 2u) << r.output;
  const fs::path kept_dir = kept[1].str();
  EXPECT_EQ(kept_dir.parent_path(), elsewhere);
  const json run = json::parse(std::ifstream(kept_dir / "run.json"));
  EXPECT_EQ(run["complete"], true);
  EXPECT_TRUE(fs::is_regular_file(kept_dir / "baseline.hgrm"));
  EXPECT_TRUE(files_named(out, is_temporary).empty());
  EXPECT_TRUE(files_named(elsewhere, is_temporary).empty());
  EXPECT_TRUE(files_named(out, [](const std::string& n) { return n == "run.json" || n.ends_with(".hgrm"); }).empty())
      << "a partial set stayed in --out";
  full.reset();
  fs::remove_all(dir);
}

TEST(ResultsDir, ConcurrentRunsIntoOneOutEachGetAWholeDirectory) {
  const fs::path dir = scratch_dir("results_dir", "concurrent");
  const std::string scenario = short_scenario(dir, "together");
  constexpr int kRuns = 24;
  std::vector<std::future<Result>> runs;
  for (int i = 0; i < kRuns; ++i)
    runs.push_back(std::async(std::launch::async,
                              [&] { return rcvqbench("run " + scenario + " --quiet --out " + (dir / "out").string()); }));
  std::set<std::string> result_dirs;
  for (auto& f : runs) {
    const Result r = f.get();
    EXPECT_EQ(r.code, 0) << r.output;
    std::smatch m;
    if (std::regex_search(r.output, m, std::regex("results: (\\S+)"))) result_dirs.insert(m[1].str());
  }
  EXPECT_EQ(result_dirs.size(), size_t(kRuns));
  size_t run_dirs = 0;
  for (const auto& e : fs::directory_iterator(dir / "out" / "together")) {
    ++run_dirs;
    EXPECT_TRUE(result_dirs.count(e.path().string())) << e.path();
    EXPECT_EQ(json::parse(std::ifstream(e.path() / "run.json"))["complete"], true) << e.path();
    EXPECT_TRUE(fs::is_regular_file(e.path() / "baseline.hgrm")) << e.path();
  }
  EXPECT_EQ(run_dirs, size_t(kRuns));
  EXPECT_TRUE(files_named(dir / "out", is_temporary).empty());
  fs::remove_all(dir);
}

// The run directory's name is predictable (its start time): links planted under every
// name of the next half minute must neither be followed nor make the run fail.
TEST(ResultsDir, SymlinksPlantedAtRunDirectoryNamesAreNotFollowed) {
  const fs::path dir = scratch_dir("results_dir", "planted");
  fs::create_directories(dir / "victim");
  fs::create_directories(dir / "out" / "planted");
  const std::time_t now = std::time(nullptr);
  for (std::time_t t = now - 2; t < now + 30; ++t) {
    char name[32];
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(name, sizeof name, "%Y-%m-%dT%H-%M-%SZ", &tm);
    fs::create_directory_symlink(dir / "victim", dir / "out" / "planted" / name);
  }
  const Result r = rcvqbench("run " + short_scenario(dir, "planted") + " --quiet --out " + (dir / "out").string());
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::is_empty(dir / "victim"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex("results: (\\S+)"))) << r.output;
  EXPECT_FALSE(fs::is_symlink(m[1].str()));
  EXPECT_TRUE(fs::is_regular_file(fs::path(m[1].str()) / "run.json"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rcvq
