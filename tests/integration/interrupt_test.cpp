// Ctrl-C in the middle of a run: no namespace, link or cgroup stays behind, no
// run.json claims completion, and the next run works.
#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;

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

// ---- Every signal stops every command promptly ----

constexpr auto kStopBound = std::chrono::milliseconds(200);

// A child rcvqbench with its output in a file, and a pidfd to see it exit.
class Child {
 public:
  Child(const std::vector<std::string>& args, const fs::path& log) {
    pid_ = fork();
    if (pid_ == 0) {
      const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      dup2(out, STDOUT_FILENO);
      dup2(out, STDERR_FILENO);
      std::vector<char*> argv{const_cast<char*>(RCVQ_BINARY)};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(RCVQ_BINARY, argv.data());
      _exit(127);
    }
    pidfd_ = int(syscall(SYS_pidfd_open, pid_, 0));
  }
  ~Child() {
    if (!reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(pidfd_);
  }
  pid_t pid() const { return pid_; }
  bool exited_within(std::chrono::milliseconds limit) const {
    pollfd p{pidfd_, POLLIN, 0};
    return poll(&p, 1, int(limit.count())) == 1;
  }
  // Exit code (128 + signal when killed by one), once exited_within() said it exited.
  int reap() {
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
  bool reaped_ = false;
};

struct Stopped {
  int exit_code = -1;
  std::chrono::microseconds took{};  // from kill() to the exit seen
};

// Signals a child and times its exit; waits 10 s at most (a hang then fails the bound).
Stopped stop_child(Child& child, int sig) {
  const auto sent = std::chrono::steady_clock::now();
  kill(child.pid(), sig);
  Stopped s;
  const bool exited = child.exited_within(std::chrono::milliseconds(10'000));
  s.took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - sent);
  if (exited) s.exit_code = child.reap();
  return s;
}

// Each entry of /proc/<pid>/fd as its link text and fdinfo, by fd number.
template <typename OnFd>
// Every thread's table: the sender threads keep their descriptors in tables of their own.
void for_each_fd(pid_t pid, OnFd&& on_fd) {
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* t = opendir(tasks.c_str());
  if (!t) return;
  while (const dirent* task = readdir(t)) {
    if (task->d_name[0] == '.') continue;
    const std::string base = tasks + "/" + task->d_name;
    DIR* d = opendir((base + "/fd").c_str());
    if (!d) continue;
    while (const dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      char target[256] = {};
      if (readlink((base + "/fd/" + e->d_name).c_str(), target, sizeof target - 1) < 0) continue;
      on_fd(std::string(target), base + "/fdinfo/" + e->d_name);
    }
    closedir(d);
  }
  closedir(t);
}

std::optional<uint64_t> fdinfo_field(const std::string& fdinfo, const std::string& key) {
  std::ifstream in(fdinfo);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1));
  return std::nullopt;
}

// The sender's pacing timer (its timerfd) is armed more than `ahead` into the future:
// the run is inside a planned gap.
bool pacing_timer_armed(pid_t pid, std::chrono::seconds ahead) {
  bool armed = false;
  for_each_fd(pid, [&](const std::string& target, const std::string& fdinfo) {
    if (target != "anon_inode:[timerfd]") return;
    std::ifstream in(fdinfo);
    for (std::string line; std::getline(in, line);) {
      long sec = 0, nsec = 0;
      if (std::sscanf(line.c_str(), "it_value: (%ld, %ld)", &sec, &nsec) == 2 && sec >= ahead.count()) armed = true;
    }
  });
  return armed;
}

// What a running rcvqbench holds that must not outlive it. It creates no cgroup of its
// own (AutoLOWAT attaches to the one it runs in), so BPF links and programs are what
// could stay attached to one.
struct Held {
  std::set<std::string> netns;  // "net:[inode]"
  std::set<uint32_t> bpf_links, bpf_programs;
};

Held held_by(pid_t pid) {
  Held h;
  for_each_fd(pid, [&](const std::string& target, const std::string& fdinfo) {
    if (target.rfind("net:[", 0) == 0) h.netns.insert(target);
    if (target == "anon_inode:bpf_link")
      if (auto id = fdinfo_field(fdinfo, "link_id")) h.bpf_links.insert(uint32_t(*id));
    if (target == "anon_inode:bpf-prog")
      if (auto id = fdinfo_field(fdinfo, "prog_id")) h.bpf_programs.insert(uint32_t(*id));
  });
  return h;
}

// What of `held` any process on the host still holds or the kernel still knows, after
// giving the kernel 5 s to finish its lazy frees.
std::vector<std::string> still_there(const Held& held) {
  std::vector<std::string> left;
  for (int i = 0; i < 50; ++i) {
    left.clear();
    for (const auto& proc : fs::directory_iterator("/proc")) {
      const std::string name = proc.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      char ns[64] = {};
      if (readlink((proc.path() / "ns" / "net").c_str(), ns, sizeof ns - 1) > 0 && held.netns.count(ns))
        left.push_back(name + " lives in " + ns);
      for_each_fd(pid_t(std::stoi(name)), [&](const std::string& target, const std::string&) {
        if (held.netns.count(target)) left.push_back(name + " holds " + target);
      });
    }
    for (uint32_t id : held.bpf_links) {
      const int fd = bpf_link_get_fd_by_id(id);
      if (fd >= 0) left.push_back("BPF link " + std::to_string(id)), close(fd);
    }
    for (uint32_t id : held.bpf_programs) {
      const int fd = bpf_prog_get_fd_by_id(id);
      if (fd >= 0) left.push_back("BPF program " + std::to_string(id)), close(fd);
    }
    for (const char* dev : {"/sys/class/net/rqs0", "/sys/class/net/rqr0", "/sys/class/net/tap0"})
      if (fs::exists(dev)) left.push_back(dev);
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return left;
}

std::string gap_scenario(const fs::path& dir, const std::string& transport, const std::string& plan = "auto") {
  const fs::path path = dir / ("gap-" + transport + "-" + plan + ".yaml");
  // The second frame is due 20 s after the first: the sender sleeps that long.
  std::ofstream(path) << "name: gap\n"
                         "source: {synthetic: {frames: 3, payload: 1000}}\n"
                         "segmentation: {cut: whole, frame_gap_us: 20000000}\n"
                         "transport: {kind: " << transport << "}\n"
                         "receiver: {modes: [baseline]}\n"
                         "run: {repetitions: 1, plan: " << plan << "}\n";
  return path.string();
}

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("rcvq-" + name + "-" + std::to_string(getpid()));
  fs::create_directories(dir);
  return dir;
}

std::string log_text(const fs::path& log) {
  std::ifstream in(log);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Starts a run of a 20 s frame gap, waits until its sender sleeps in that gap, signals
// it and checks the bound and that nothing it held remains.
void expect_prompt_clean_stop_in_a_gap(const std::string& transport, int sig, const std::string& plan = "auto") {
  const fs::path dir = scratch("gap");
  const fs::path log = dir / "log";
  Child child({"run", gap_scenario(dir, transport, plan), "--out", (dir / "results").string(), "--quiet"}, log);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!pacing_timer_armed(child.pid(), std::chrono::seconds(5))) {
    ASSERT_FALSE(child.exited_within(std::chrono::milliseconds(20))) << log_text(log);
    ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "the sender never slept in the gap: " << log_text(log);
  }
  const Held held = held_by(child.pid());
  EXPECT_FALSE(held.netns.empty());
  const Stopped s = stop_child(child, sig);
  EXPECT_EQ(s.exit_code, 130) << log_text(log);
  EXPECT_LT(s.took, kStopBound) << strsignal(sig) << " on " << transport;
  EXPECT_EQ(still_there(held), std::vector<std::string>{});
  // What it measured until then is saved, marked incomplete.
  bool saved = false;
  for (const auto& entry : fs::recursive_directory_iterator(dir / "results"))
    if (entry.path().filename() == "run.json") {
      saved = true;
      EXPECT_FALSE(nlohmann::json::parse(std::ifstream(entry.path()))["complete"].get<bool>());
    }
  EXPECT_TRUE(saved) << log_text(log);
  std::printf("%s on %s: exit %d, %.1f ms after the signal\n", strsignal(sig), transport.c_str(), s.exit_code,
              double(s.took.count()) / 1e3);
  fs::remove_all(dir);
}

// What the run held in its namespaces, BPF links and programs is gone after a SIGINT
// mid-measurement; checked by identity, so other processes on the host that create or
// drop namespaces meanwhile change nothing.
TEST(Interrupt, SigintMidRunLeavesNothingBehindAndNoCompleteRunJson) {
  const fs::path dir = scratch("interrupt");
  const std::string scenario = write_scenario(dir, 2000);  // ~18 s per mode: far longer than we wait
  {
    Child run({"run", scenario, "--out", (dir / "results").string(), "--quiet"}, dir / "run.log");
    ASSERT_FALSE(run.exited_within(std::chrono::milliseconds(1500))) << log_text(dir / "run.log");
    const Held held = held_by(run.pid());
    EXPECT_FALSE(held.netns.empty()) << "1.5 s in, the run holds its namespaces";
    EXPECT_EQ(stop_child(run, SIGINT).exit_code, 130) << log_text(dir / "run.log");
    EXPECT_EQ(still_there(held), std::vector<std::string>{});
  }
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

  Child short_run({"run", write_scenario(dir, 30), "--out", (dir / "results2").string(), "--quiet"},
                  dir / "short.log");
  ASSERT_TRUE(short_run.exited_within(std::chrono::milliseconds(120'000))) << log_text(dir / "short.log");
  EXPECT_EQ(short_run.reap(), 0) << log_text(dir / "short.log");
  bool complete_found = false;
  for (const auto& entry : fs::recursive_directory_iterator(dir / "results2"))
    if (entry.path().filename() == "run.json")
      complete_found = nlohmann::json::parse(std::ifstream(entry.path()))["complete"].get<bool>();
  EXPECT_TRUE(complete_found);
  fs::remove_all(dir);
}

TEST(Interrupt, EverySignalEndsAVethRunInsideA20sFrameGapWithin200msLeavingNothing) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) expect_prompt_clean_stop_in_a_gap("veth", sig);
}

TEST(Interrupt, LoopbackAndTapSendersWakeFromA20sFrameGapWithin200ms) {
  expect_prompt_clean_stop_in_a_gap("loopback", SIGINT);
  expect_prompt_clean_stop_in_a_gap("loopback", SIGTERM, "streamed");
  expect_prompt_clean_stop_in_a_gap("tap", SIGTERM);
}

TEST(Interrupt, ABlockedReadAndALongPlanExit130Within200ms) {
  const fs::path dir = scratch("blocked");
  // gate opening a FIFO that nobody writes sleeps in open() for ever.
  const fs::path fifo = dir / "baseline.json";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  {
    Child gate({"gate", fifo.string(), fifo.string()}, dir / "gate.log");
    const std::string wchan = "/proc/" + std::to_string(gate.pid()) + "/wchan";
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (std::string in; std::getline(std::ifstream(wchan), in), in != "wait_for_partner";) {
      ASSERT_FALSE(gate.exited_within(std::chrono::milliseconds(10))) << log_text(dir / "gate.log");
      ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "gate never blocked opening the FIFO: " << in;
    }
    const Stopped s = stop_child(gate, SIGINT);
    EXPECT_EQ(s.exit_code, 130) << log_text(dir / "gate.log");
    EXPECT_LT(s.took, kStopBound);
  }
  // Planning two million frames, held, takes seconds of computation.
  std::ofstream(dir / "big.yaml") << "name: big\n"
                                     "source: {synthetic: {frames: 2000000, payload: 16}}\n"
                                     "segmentation: {cut: {chunks: 4}}\n"
                                     "run: {plan: held}\n";
  Child plan({"plan", (dir / "big.yaml").string(), "--rows", "2"}, dir / "plan.log");
  ASSERT_FALSE(plan.exited_within(std::chrono::milliseconds(300)))
      << "the plan was done before the signal; make it bigger: " << log_text(dir / "plan.log");
  const Stopped s = stop_child(plan, SIGINT);
  EXPECT_EQ(s.exit_code, 130) << log_text(dir / "plan.log");
  EXPECT_LT(s.took, kStopBound);
  fs::remove_all(dir);
}

}  // namespace
