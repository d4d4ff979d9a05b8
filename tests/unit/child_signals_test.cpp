// Commands the tool runs (ip, ethtool) start with no signal blocked, although every
// thread of ours blocks the stop signals for the sigwait thread.
#include <gtest/gtest.h>
#include <signal.h>

#include "transport/netns.hpp"

namespace rcvq {
namespace {

TEST(ChildSignals, ACommandStartsWithNoSignalBlocked) {
  sigset_t stop_signals, previous;
  sigemptyset(&stop_signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&stop_signals, sig);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &stop_signals, &previous), 0);
  // SigBlk is the shell's own mask, which it passed on from ours.
  EXPECT_NO_THROW(run_command({"sh", "-c", "grep -Eq '^SigBlk:[[:space:]]+0+$' /proc/self/status"}));
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

}  // namespace
}  // namespace rcvq
