#pragma once
#include <string>
#include <vector>

namespace rcvq {

// An anonymous network namespace held only by a file descriptor: nothing is mounted
// or named on the host, and the kernel destroys it (with its veths and TAPs) once the
// fd and every socket inside are closed, even if the process is killed.
class Netns {
 public:
  static Netns create();
  // The calling thread's own namespace (an agent receiving on its host's addresses).
  static Netns current();
  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();

  int fd() const { return fd_; }
  // Path other processes (ip ... netns PATH) can open to reach this namespace.
  std::string path() const;
  // Runs a command (ip, ethtool) inside the namespace; throws RunError with its output.
  void run(const std::vector<std::string>& argv) const;
  // Writes a per-namespace sysctl (`key` under /proc/sys, e.g. "net/ipv4/tcp_fastopen");
  // throws RunError naming it.
  void set_sysctl(const std::string& key, const std::string& value) const;

 private:
  explicit Netns(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Moves the calling thread into a namespace for its lifetime, then back.
class NetnsGuard {
 public:
  explicit NetnsGuard(const Netns& ns);
  ~NetnsGuard();
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;

 private:
  int previous_ = -1;
};

// Runs a command in the calling thread's namespaces; throws RunError with its output.
void run_command(const std::vector<std::string>& argv);

}  // namespace rcvq
