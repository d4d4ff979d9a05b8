// Writing results: whole files or none, no temporary names, never through a symlink,
// one fresh directory per run, and unusable destinations refused up front.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "common/errors.hpp"
#include "common/fd.hpp"
#include "results/writer.hpp"
#include "scenario/load.hpp"
#include "unit/scratch_dir.hpp"

namespace rcvq {
namespace {

namespace fs = std::filesystem;

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// Every name that appeared in `dir` (created or renamed into it) while `write` ran.
std::vector<std::string> names_created_during(const fs::path& dir, const std::function<void()>& write) {
  const Fd watch(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  EXPECT_GE(inotify_add_watch(watch.get(), dir.c_str(), IN_CREATE | IN_MOVED_TO), 0);
  write();
  std::vector<std::string> names;
  alignas(inotify_event) char buf[4096];
  for (ssize_t n; (n = read(watch.get(), buf, sizeof buf)) > 0;)
    for (char* p = buf; p < buf + n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(p);
      if (event->len) names.emplace_back(event->name);
      p += sizeof(inotify_event) + event->len;
    }
  return names;
}

TEST(ResultsWriter, ANewFileAppearsOnlyUnderItsNameAndWhole) {
  const fs::path dir = scratch_dir("writer", "new");
  const std::string content(1 << 20, 'x');
  const auto created = names_created_during(dir, [&] { write_file_atomic((dir / "run.json").string(), content); });
  // No temporary name ever existed, so no crash or second Ctrl-C could leave one behind.
  EXPECT_EQ(created, std::vector<std::string>{"run.json"});
  EXPECT_EQ(read_text(dir / "run.json"), content);
  EXPECT_EQ(entries(dir), std::set<std::string>{"run.json"});
  fs::remove_all(dir);
}

TEST(ResultsWriter, AProcessKilledWhileWritingLeavesOnlyWholeFiles) {
  const fs::path dir = scratch_dir("writer", "killed");
  const std::string content(8 << 20, 'k');
  const pid_t child = fork();
  if (child == 0) {
    const Fd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY));
    try {
      for (int i = 0;; ++i) write_file_at(dir_fd.get(), dir.string(), "f" + std::to_string(i), content);
    } catch (...) {
      _exit(1);
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().rfind('f', 0), 0u) << "left behind: " << e.path();
    EXPECT_EQ(fs::file_size(e.path()), content.size()) << e.path();
  }
  fs::remove_all(dir);
}

TEST(ResultsWriter, ReplacingKeepsOneWholeFileAndNoTemporary) {
  const fs::path dir = scratch_dir("writer", "replace");
  write_file_atomic((dir / "index.json").string(), "old");
  write_file_atomic((dir / "index.json").string(), "new");
  EXPECT_EQ(read_text(dir / "index.json"), "new");
  EXPECT_EQ(entries(dir), std::set<std::string>{"index.json"});
  fs::remove_all(dir);
}

TEST(ResultsWriter, ASymlinkAtTheNameIsReplacedNotFollowed) {
  const fs::path dir = scratch_dir("writer", "symlink");
  fs::create_directories(dir / "victim");
  std::ofstream(dir / "victim" / "secret") << "untouched";
  fs::create_directories(dir / "out");
  fs::create_symlink(dir / "victim" / "secret", dir / "out" / "run.json");
  write_file_atomic((dir / "out" / "run.json").string(), "results");
  EXPECT_FALSE(fs::is_symlink(dir / "out" / "run.json"));
  EXPECT_EQ(read_text(dir / "out" / "run.json"), "results");
  EXPECT_EQ(read_text(dir / "victim" / "secret"), "untouched");
  fs::remove_all(dir);
}

TEST(ResultsWriter, ASymlinkedScenarioDirectoryInOutIsRefusedNamingIt) {
  const fs::path dir = scratch_dir("writer", "scenario_link");
  fs::create_directories(dir / "victim");
  fs::create_directories(dir / "out");
  fs::create_directory_symlink(dir / "victim", dir / "out" / "quickstart");
  try {
    ResultsDestination::new_run_under((dir / "out").string(), "quickstart", "2026-01-01T00-00-00Z");
    FAIL() << "followed a symlink inside --out";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "out" / "quickstart").string() + " is a symbolic link"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dir / "victim"));
  fs::remove_all(dir);
}

TEST(ResultsWriter, ARunDirectoryNameTakenBySymlinkOrDirectoryGetsASuffix) {
  const fs::path dir = scratch_dir("writer", "taken");
  const std::string ts = "2026-01-01T00-00-00Z";
  fs::create_directories(dir / "victim");
  fs::create_directories(dir / "out" / "sc" / ts);
  fs::create_directory_symlink(dir / "victim", dir / "out" / "sc" / (ts + ".1"));
  ResultsDestination d = ResultsDestination::new_run_under((dir / "out").string(), "sc", ts);
  EXPECT_EQ(d.create_run_directory(), (dir / "out" / "sc" / (ts + ".2")).string());
  write_file_at(d.run_dir_fd(), d.create_run_directory(), "run.json", "{}");
  EXPECT_TRUE(fs::is_regular_file(dir / "out" / "sc" / (ts + ".2") / "run.json"));
  EXPECT_TRUE(fs::is_empty(dir / "victim"));
  fs::remove_all(dir);
}

TEST(ResultsWriter, RunsStartedInTheSameSecondEachGetTheirOwnDirectory) {
  const fs::path dir = scratch_dir("writer", "concurrent");
  constexpr int kRuns = 64;
  std::vector<std::string> made(kRuns);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRuns; ++i)
    threads.emplace_back([&, i] {
      ResultsDestination d = ResultsDestination::new_run_under(dir.string(), "sc", "2026-01-01T00-00-00Z");
      made[size_t(i)] = d.create_run_directory();
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(std::set<std::string>(made.begin(), made.end()).size(), size_t(kRuns));
  EXPECT_EQ(entries(dir / "sc").size(), size_t(kRuns));
  fs::remove_all(dir);
}

TEST(ResultsWriter, UnusableDestinationsAreBadInputNamingTheOption) {
  const fs::path dir = scratch_dir("writer", "unusable");
  std::ofstream(dir / "a-file") << "x";
  struct Case {
    std::string root;
    std::string expect;
  };
  for (const Case& c : std::vector<Case>{{(dir / "a-file").string(), "not a directory"},
                                         {"/dev/null", "not a directory"},
                                         {(dir / "a-file" / "below").string(), "not a directory"},
                                         {"/proc", "cannot create /proc/sc"},
                                         {"/sys", "cannot create /sys/sc"},
                                         {(dir / std::string(300, 'o')).string(), "File name too long"}}) {
    try {
      ResultsDestination::new_run_under(c.root, "sc", "2026-01-01T00-00-00Z");
      ADD_FAILURE() << c.root << " accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("--out " + c.root + ": ", 0), 0u) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(ResultsDestination::exactly("/proc/rcvq-results"), InputError);
  fs::remove_all(dir);
}

TEST(ResultsWriter, ScenarioNamesThatCannotNameADirectoryAreRefused) {
  for (const std::string& yaml : {"name: " + std::string(256, 'n') + "\n", std::string("name: \"a\\0b\"\n")}) {
    try {
      parse_scenario(yaml, "named.yaml");
      ADD_FAILURE() << "accepted " << yaml;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("named.yaml:1:"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("name"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(parse_scenario("name: " + std::string(255, 'n') + "\n", "named.yaml").name.size(), 255u);
}

}  // namespace
}  // namespace rcvq
