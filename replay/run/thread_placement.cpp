#include "run/thread_placement.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

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

SenderThread::SenderThread(const Scenario& sc, Replayer& replayer, uint32_t index, bool private_fds)
    : replayer_(replayer) {
  thread_ = std::thread([this, &sc, index, private_fds] { body(sc, index, private_fds); });
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return set_up_; });
}

SenderThread::~SenderThread() {
  {
    // A thread that was never started must not wait for ever.
    std::lock_guard lock(mutex_);
    abandoned_ = true;
  }
  changed_.notify_all();
  join();
}

void SenderThread::body(const Scenario& sc, uint32_t index, bool private_fds) {
  pthread_setname_np(pthread_self(), "rcvq-sender");  // for perf and top
  try {
    if (private_fds && unshare(CLONE_FILES) != 0) throw_errno("unshare(CLONE_FILES) for the sender thread");
    apply_realtime_priority(sc.receiver.realtime_priority, "sender");
    cpus = pin_calling_thread(sc.sender.cpu.for_thread(index), "sender");
  } catch (...) {
    error = std::current_exception();
  }
  std::unique_lock lock(mutex_);
  set_up_ = true;
  changed_.notify_all();
  while (!error) {
    changed_.wait(lock, [&] { return connect_request_ || replay_ || abandoned_; });
    if (connect_request_) {
      const uint32_t connections = *connect_request_;
      connect_request_.reset();
      lock.unlock();
      try {
        replayer_.connect(connections);
      } catch (...) {
        connect_error_ = std::current_exception();
      }
      lock.lock();
      connect_done_ = true;
      changed_.notify_all();
      continue;
    }
    if (!replay_) break;  // abandoned before it was started
    lock.unlock();
    try {
      replay_();
      replayer_.finish();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    break;
  }
  lock.unlock();
  // Descriptors of a private table are this thread's to close.
  replayer_.close_descriptors();
  // The table's copies of the process's descriptors too: the kernel drops a thread's
  // table only after pthread_join has returned, and a copy of the listener held until
  // then would make the next repetition's bind fail with EADDRINUSE.
  if (private_fds) close_range(3, ~0U, 0);
  finished_.store(true, std::memory_order_release);
}

void SenderThread::connect(uint32_t connections) {
  std::unique_lock lock(mutex_);
  if (error) std::rethrow_exception(error);
  connect_request_ = connections;
  connect_done_ = false;
  connect_error_ = nullptr;
  changed_.notify_all();
  changed_.wait(lock, [&] { return connect_done_; });
  if (connect_error_) std::rethrow_exception(connect_error_);
}

void SenderThread::start(const ReplayPlan& plan, int64_t t0_ns, const StopSignal& stop, FrameSendRing* ring) {
  {
    std::lock_guard lock(mutex_);
    replay_ = [this, &plan, t0_ns, &stop, ring] {
      if (plan.streamed)
        replayer_.replay_streamed(plan, t0_ns, *ring, streamed, stop);
      else
        replayer_.replay(plan, t0_ns, sent_ns, stop);
    };
  }
  changed_.notify_all();
}

}  // namespace rcvq
