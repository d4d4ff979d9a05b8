#pragma once
#include <atomic>
#include <cstdint>
#include <exception>
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
// priority and pinning: replays the plan from t0_ns, then ends every connection. A
// streamed plan needs the `ring` its connections' receivers read.
class SenderThread {
 public:
  // Sender thread number `index` (for sender.cpu).
  SenderThread(const Scenario& scenario, Replayer& replayer, uint32_t index, const ReplayPlan& plan, int64_t t0_ns,
               const StopSignal& stop, FrameSendRing* ring = nullptr);
  ~SenderThread() { join(); }
  SenderThread(const SenderThread&) = delete;
  SenderThread& operator=(const SenderThread&) = delete;

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
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

}  // namespace rcvq
