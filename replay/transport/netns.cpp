#include "transport/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "common/errors.hpp"
#include "common/spawn.hpp"

extern char** environ;

namespace rcvq {
namespace {

int open_current_netns() {
  int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno("open /proc/thread-self/ns/net");
  return fd;
}

}  // namespace

Netns Netns::create() {
  const int original = open_current_netns();
  if (unshare(CLONE_NEWNET) != 0) {
    close(original);
    throw_errno("unshare(CLONE_NEWNET) (rcvqbench needs root or CAP_NET_ADMIN)");
  }
  const int created = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  const int saved_errno = errno;
  if (setns(original, CLONE_NEWNET) != 0) {
    // Staying in the new namespace would send later work to the wrong place.
    fmt::print(stderr, "rcvqbench: cannot return to the original network namespace: {}\n",
               std::strerror(errno));
    std::abort();
  }
  close(original);
  if (created < 0) {
    errno = saved_errno;
    throw_errno("open new network namespace");
  }
  Netns ns(created);
  ns.run({"ip", "link", "set", "lo", "up"});
  return ns;
}

Netns Netns::current() { return Netns(open_current_netns()); }

Netns::Netns(Netns&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Netns::~Netns() {
  if (fd_ >= 0) close(fd_);
}

std::string Netns::path() const { return fmt::format("/proc/{}/fd/{}", getpid(), fd_); }

void Netns::run(const std::vector<std::string>& argv) const {
  NetnsGuard inside(*this);
  run_command(argv);
}

void Netns::set_sysctl(const std::string& key, const std::string& value) const {
  NetnsGuard inside(*this);
  // /proc/sys/net resolves against the calling thread's namespace.
  std::ofstream sysctl("/proc/sys/" + key);
  sysctl << value;
  sysctl.close();
  if (!sysctl) throw RunError("cannot set " + key + " to " + value + " in the tool's network namespace");
}

NetnsGuard::NetnsGuard(const Netns& ns) : previous_(open_current_netns()) {
  if (setns(ns.fd(), CLONE_NEWNET) != 0) {
    close(previous_);
    throw_errno("setns into the tool's network namespace");
  }
}

NetnsGuard::~NetnsGuard() {
  if (setns(previous_, CLONE_NEWNET) != 0) {
    fmt::print(stderr, "rcvqbench: cannot leave a network namespace: {}\n", std::strerror(errno));
    std::abort();
  }
  close(previous_);
}

void run_command(const std::vector<std::string>& argv) {
  // posix_spawn's child inherits the calling thread's namespaces, so a command run
  // under a NetnsGuard acts inside that namespace.
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw_errno("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const ChildSignalDefaults signals;
  const int rc = posix_spawnp(&pid, args[0], &actions, signals.get(), args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  std::string output;
  char buf[512];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) output.append(buf, size_t(n));
  close(out[0]);
  const std::string command = fmt::format("{}", fmt::join(argv, " "));
  if (rc != 0) throw RunError(fmt::format("cannot run '{}': {}", command, std::strerror(rc)));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw RunError(fmt::format("'{}' failed: {}", command, output.empty() ? "no output" : output));
}

}  // namespace rcvq
