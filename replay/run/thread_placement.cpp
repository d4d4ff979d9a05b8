#include "run/thread_placement.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>

#include <cstring>

#include "common/errors.hpp"

namespace rcvq {

// SCHED_FIFO for the calling thread: the other load on the host then cannot delay a
// wakeup long enough for two arrivals to merge into one, which would blur the counts.
void apply_realtime_priority(uint32_t priority, const char* thread) {
  if (priority == 0) return;
  sched_param param{};
  param.sched_priority = int(priority);
  if (int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param))
    throw RunError(fmt::format("cannot give the {} thread SCHED_FIFO priority {}: {}", thread, priority,
                               std::strerror(err)));
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) throw_errno("sched_getaffinity");
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  return cpus;
}

// Like iperf3 -A: CPU figures only compare between runs whose threads ran where they
// were told. Returns the CPUs the calling thread may use afterwards, as it sees them.
std::vector<int> pin_calling_thread(std::optional<uint32_t> cpu, const char* thread) {
  if (cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(*cpu, &set);
    if (int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set))
      throw RunError(fmt::format("cannot pin the {} thread to CPU {}: {}", thread, *cpu, std::strerror(err)));
  }
  return allowed_cpus();
}

SenderThread::SenderThread(const Scenario& sc, Replayer& replayer, uint32_t index, const ReplayPlan& plan,
                           int64_t t0_ns, const StopSignal& stop, FrameSendRing* ring) {
  thread_ = std::thread([this, &sc, &replayer, index, &plan, t0_ns, &stop, ring] {
    try {
      apply_realtime_priority(sc.receiver.realtime_priority, "sender");
      cpus = pin_calling_thread(sc.sender.cpu.for_thread(index), "sender");
      if (plan.streamed)
        replayer.replay_streamed(plan, t0_ns, *ring, streamed, stop);
      else
        replayer.replay(plan, t0_ns, sent_ns, stop);
      replayer.finish();
    } catch (...) {
      error = std::current_exception();
    }
    finished_.store(true, std::memory_order_release);
  });
}

}  // namespace rcvq
