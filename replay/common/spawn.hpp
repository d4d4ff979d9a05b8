#pragma once
#include <spawn.h>

namespace rcvq {

// posix_spawn attributes that give a child a fresh process's signal state. StopSignal
// blocks SIGINT, SIGTERM, SIGHUP and SIGQUIT in every thread of ours, and a blocked
// mask survives exec: without these an `ip`, `ethtool` or VM would outlive Ctrl-C.
class ChildSignalDefaults {
 public:
  ChildSignalDefaults();
  ~ChildSignalDefaults();
  ChildSignalDefaults(const ChildSignalDefaults&) = delete;
  ChildSignalDefaults& operator=(const ChildSignalDefaults&) = delete;

  // The child leads a process group of its own: a terminal's Ctrl-C then reaches only
  // this process, which can end what the child does in order.
  void new_process_group();

  const posix_spawnattr_t* get() const { return &attr_; }

 private:
  posix_spawnattr_t attr_;
};

}  // namespace rcvq
