#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "common/errors.hpp"
#include "probes/host_probe.hpp"

namespace rcvq {

// A cgroup the test creates under the cgroup2 mount and removes again, so cgroup BPF
// programs attached to it touch no socket but the test's.
class ScratchCgroup {
 public:
  ScratchCgroup() {
    const std::string mount = cgroup2_mount_point();
    if (mount.empty()) return;
    path_ = mount + "/rcvq-autolowat-test-" + std::to_string(getpid());
    if (mkdir(path_.c_str(), 0755) != 0) throw_errno("mkdir " + path_);
    fd_ = open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  ~ScratchCgroup() {
    if (fd_ >= 0) close(fd_);
    if (!path_.empty()) rmdir(path_.c_str());
  }
  ScratchCgroup(const ScratchCgroup&) = delete;
  ScratchCgroup& operator=(const ScratchCgroup&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// Puts this (single-threaded) process into a cgroup for its lifetime, then back. A
// socket belongs to the cgroup of the task that created it, for good, so sockets
// created meanwhile stay under the cgroup's programs after the process leaves.
class InsideCgroup {
 public:
  explicit InsideCgroup(const ScratchCgroup& cgroup) {
    std::ifstream self("/proc/self/cgroup");
    for (std::string line; std::getline(self, line);)
      if (line.rfind("0::", 0) == 0) previous_ = cgroup2_mount_point() + line.substr(3);
    if (previous_.empty()) throw RunError("/proc/self/cgroup has no cgroup v2 entry (0::)");
    move_to(cgroup.path());
  }
  ~InsideCgroup() { move_to(previous_); }
  InsideCgroup(const InsideCgroup&) = delete;
  InsideCgroup& operator=(const InsideCgroup&) = delete;

 private:
  static void move_to(const std::string& path) {
    std::ofstream(path + "/cgroup.procs") << getpid() << std::flush;
  }
  std::string previous_;
};

}  // namespace rcvq
