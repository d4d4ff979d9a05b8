// Ctrl-C in the middle of a run: no namespace, link or cgroup stays behind, no
// run.json claims completion, and the next run works.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

namespace {

namespace fs = std::filesystem;

// Every network namespace any process on the host holds, by inode.
std::set<ino_t> host_network_namespaces() {
  std::set<ino_t> found;
  for (const auto& proc : fs::directory_iterator("/proc")) {
    std::error_code ec;
    const auto st = fs::status(proc.path() / "ns" / "net", ec);
    if (ec) continue;
    struct stat s {};
    if (stat((proc.path() / "ns" / "net").c_str(), &s) == 0) found.insert(s.st_ino);
  }
  return found;
}

std::string write_scenario(const fs::path& dir, int frames) {
  const fs::path path = dir / "interrupt.yaml";
  std::ofstream(path) << "name: interrupt\n"
                         "source: {synthetic: {frames: " << frames << ", payload: 4000}}\n"
                         "segmentation: {cut: {chunks: 9}, chunk_gap_us: 1000, frame_gap_us: 1000}\n"
                         "transport: {kind: veth}\n"
                         "receiver: {modes: [baseline, lowat-user]}\n"
                         "run: {repetitions: 3}\n";
  return path.string();
}

int run_rcvqbench(const std::string& scenario, const fs::path& out, int interrupt_after_ms) {
  pid_t pid = fork();
  if (pid == 0) {
    execl(RCVQ_BINARY, RCVQ_BINARY, "run", scenario.c_str(), "--out", out.c_str(), "--quiet", nullptr);
    _exit(127);
  }
  if (interrupt_after_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(interrupt_after_ms));
    kill(pid, SIGINT);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(Interrupt, SigintMidRunLeavesNothingBehindAndNoCompleteRunJson) {
  const fs::path dir = fs::temp_directory_path() / ("rcvq-interrupt-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string scenario = write_scenario(dir, 2000);  // ~18 s per mode: far longer than we wait
  const auto before = host_network_namespaces();

  EXPECT_EQ(run_rcvqbench(scenario, dir / "results", 1500), 130);

  // Namespaces are released once the process is gone (the kernel frees them lazily).
  std::set<ino_t> after;
  for (int i = 0; i < 50; ++i) {
    after = host_network_namespaces();
    if (after == before) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(after, before);
  EXPECT_FALSE(fs::exists("/sys/class/net/rqs0"));
  EXPECT_FALSE(fs::exists("/sys/class/net/rqr0"));
  for (const auto& entry : fs::recursive_directory_iterator(dir / "results")) {
    if (entry.path().filename() != "run.json") continue;
    const auto doc = nlohmann::json::parse(std::ifstream(entry.path()));
    EXPECT_FALSE(doc["complete"].get<bool>()) << entry.path();
    // 1.5 s into an 18 s first repetition: no mode completed one, none may read "ok".
    for (const auto& [mode, m] : doc["modes"].items()) {
      EXPECT_EQ(m["status"], "not run") << mode;
      EXPECT_TRUE(m["metrics"].is_null()) << mode;
    }
  }

  const std::string short_scenario = write_scenario(dir, 30);
  EXPECT_EQ(run_rcvqbench(short_scenario, dir / "results2", 0), 0);
  bool complete_found = false;
  for (const auto& entry : fs::recursive_directory_iterator(dir / "results2"))
    if (entry.path().filename() == "run.json")
      complete_found = nlohmann::json::parse(std::ifstream(entry.path()))["complete"].get<bool>();
  EXPECT_TRUE(complete_found);
  fs::remove_all(dir);
}

}  // namespace
