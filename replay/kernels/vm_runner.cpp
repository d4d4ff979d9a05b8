#include "kernels/vm_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/errors.hpp"
#include "common/spawn.hpp"
#include "common/stop.hpp"

extern char** environ;

namespace rcvq {
namespace {

class Pipe {
 public:
  Pipe() {
    if (pipe2(fds_, O_CLOEXEC) != 0) throw_errno("pipe");
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  int read_end() const { return fds_[0]; }
  int write_end() const { return fds_[1]; }
  void close_read() { close_fd(fds_[0]); }
  void close_write() { close_fd(fds_[1]); }

 private:
  static void close_fd(int& fd) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  int fds_[2] = {-1, -1};
};

bool executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

void write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // our own output is gone; the child's result still counts
    data += n;
    size -= size_t(n);
  }
}

constexpr size_t kStderrTailLines = 50;

void keep_line(std::vector<std::string>& tail, std::string& line) {
  if (line.empty()) return;
  if (tail.size() == kStderrTailLines) tail.erase(tail.begin());
  tail.push_back(std::move(line));
  line.clear();
}

}  // namespace

std::string find_vmrun() {
  if (const char* from_env = std::getenv("RCVQBENCH_VMRUN")) {
    if (!executable(from_env))
      throw InputError(fmt::format("RCVQBENCH_VMRUN={}: not an executable file (the VM runner --kernel needs)", from_env));
    return from_env;
  }
  const std::string in_tree = RCVQ_DEFAULT_VMRUN;
  if (!executable(in_tree))
    throw InputError(fmt::format("--kernel with a bzImage needs the VM runner, and there is none: {} is missing or "
                                 "not executable, and RCVQBENCH_VMRUN is not set",
                                 in_tree));
  return in_tree;
}

ChildOutcome run_child(const std::vector<std::string>& argv, bool echo_stdout) {
  Pipe out, err;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out.write_end(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write_end(), STDERR_FILENO);
  const ChildSignalDefaults signals;
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int spawn_error = posix_spawn(&pid, args[0], &actions, signals.get(), args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) throw RunError(fmt::format("cannot start {}: {}", argv[0], std::strerror(spawn_error)));
  out.close_write();
  err.close_write();

  ChildOutcome outcome;
  std::string stderr_line;
  StopSignal& stop = StopSignal::instance();
  pollfd fds[3] = {{out.read_end(), POLLIN, 0}, {err.read_end(), POLLIN, 0}, {stop.fd(), POLLIN, 0}};
  int open_pipes = 2;
  char buf[4096];
  while (open_pipes > 0) {
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll on the child's output");
    }
    if (fds[2].revents & POLLIN) {
      kill(pid, SIGTERM);
      outcome.stop_forwarded = true;
      fds[2].fd = -1;  // once is enough; the eventfd stays readable
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;
        --open_pipes;
        continue;
      }
      if (i == 0) {
        outcome.stdout_text.append(buf, size_t(n));
        if (echo_stdout) write_all(STDOUT_FILENO, buf, size_t(n));
        continue;
      }
      write_all(STDERR_FILENO, buf, size_t(n));
      for (ssize_t j = 0; j < n; ++j) {
        if (buf[j] != '\n' && buf[j] != '\r') stderr_line += buf[j];
        else keep_line(outcome.stderr_tail, stderr_line);
      }
    }
  }
  keep_line(outcome.stderr_tail, stderr_line);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw_errno("waitpid");
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return outcome;
}

}  // namespace rcvq
