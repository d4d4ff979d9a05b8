#include "common/spawn.hpp"

#include <signal.h>

#include <initializer_list>

namespace rcvq {

ChildSignalDefaults::ChildSignalDefaults() {
  posix_spawnattr_init(&attr_);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  // SIGPIPE too: a child writing into a closed pipe should die as it would elsewhere.
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr_, &none);
  posix_spawnattr_setsigdefault(&attr_, &defaults);
  posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

void ChildSignalDefaults::new_process_group() {
  short flags = 0;
  posix_spawnattr_getflags(&attr_, &flags);
  posix_spawnattr_setpgroup(&attr_, 0);
  posix_spawnattr_setflags(&attr_, short(flags | POSIX_SPAWN_SETPGROUP));
}

ChildSignalDefaults::~ChildSignalDefaults() { posix_spawnattr_destroy(&attr_); }

}  // namespace rcvq
