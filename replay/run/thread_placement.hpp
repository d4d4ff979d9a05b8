#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/stop.hpp"
#include "plan/plan.hpp"
#include "scenario/scenario.hpp"
#include "transport/network.hpp"

namespace rcvq {

// SCHED_FIFO for the calling thread (0 = leave it alone): the other load on the host
// then cannot delay a wakeup long enough for two arrivals to merge into one. Throws RunError.
void apply_realtime_priority(uint32_t priority, const char* thread);

// The CPUs this process may run on.
std::vector<int> allowed_cpus();

// Pins the calling thread to `cpu` when given (like iperf3 -A); returns the CPUs it may
// use afterwards. Throws RunError.
std::vector<int> pin_calling_thread(std::optional<uint32_t> cpu, const char* thread);

// The sending half of one repetition on a thread of its own, at the scenario's SCHED_FIFO
// priority and pinning: opens the connections when told, replays the plan from t0_ns,
// then ends every connection.
//
// With `private_fds` the thread's descriptors live in a table of its own
// (unshare(CLONE_FILES)): RLIMIT_NOFILE then bounds each side's connections, not the
// sum of both ends held in one process (9,800 on a host whose hard limit is 20,000).
// Everything the thread uses must be open before it is constructed, and every
// descriptor it opens is closed when it ends.
class SenderThread {
 public:
  // Sender thread number `index` (for sender.cpu). Returns once the thread is set up.
  SenderThread(const Scenario& scenario, Replayer& replayer, uint32_t index, bool private_fds);
  ~SenderThread();
  SenderThread(const SenderThread&) = delete;
  SenderThread& operator=(const SenderThread&) = delete;

  // Replayer::connect on the thread; returns when it has, rethrowing its error.
  void connect(uint32_t connections);
  // Replays `plan` from `t0_ns` and ends the connections; a streamed plan needs the
  // `ring` its connections' receivers read.
  void start(const ReplayPlan& plan, int64_t t0_ns, const StopSignal& stop, FrameSendRing* ring = nullptr);

  void join() {
    if (thread_.joinable()) thread_.join();
  }
  // The thread has replayed (or failed); join() then returns at once.
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  // After join(): what the replayer recorded (sent_ns for a held plan, streamed for a
  // streamed one), the CPUs the thread could use, its error.
  std::vector<int64_t> sent_ns;
  StreamedSendRecord streamed;
  std::vector<int> cpus;
  std::exception_ptr error;

 private:
  void body(const Scenario& sc, uint32_t index, bool private_fds);

  Replayer& replayer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<uint32_t> connect_request_;  // connections waiting to be opened on the thread
  std::function<void()> replay_;             // the replay, once started
  std::exception_ptr connect_error_;
  bool set_up_ = false, connect_done_ = false, abandoned_ = false;
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

}  // namespace rcvq
