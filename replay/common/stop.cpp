#include "common/stop.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "common/errors.hpp"

namespace rcvq {

StopSignal& StopSignal::instance() {
  static StopSignal signal;
  return signal;
}

StopSignal::StopSignal() {
  fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd_ < 0) throw_errno("eventfd");
}

void StopSignal::request() {
  flag_.store(true);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof one);
}

void StopSignal::install() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (StopSignal::instance().requested()) {
        // A second signal: the user insists. Namespaces die with the process anyway.
        std::fputs("rcvqbench: second interrupt, exiting now\n", stderr);
        _exit(130);
      }
      std::fputs("rcvqbench: interrupted, stopping and cleaning up\n", stderr);
      StopSignal::instance().request();
    }
  }).detach();
}

}  // namespace rcvq
