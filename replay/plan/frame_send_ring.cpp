#include "plan/frame_send_ring.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/clock.hpp"
#include "common/errors.hpp"

namespace rcvq {
namespace {
// How long the sender sleeps while its slowest receiver catches up.
constexpr int64_t kRoomPollNs = 50'000;
}  // namespace

FrameSendRing::FrameSendRing(uint32_t first_connection, uint32_t connections, uint64_t slots)
    : first_connection_(first_connection),
      connections_(connections),
      slots_(slots),
      ring_(std::make_unique<Slot[]>(slots)),
      progress_(std::make_unique<std::atomic<uint64_t>[]>(connections)),
      room_before_(slots) {
  for (uint32_t c = 0; c < connections; ++c) progress_[c].store(0, std::memory_order_relaxed);
}

uint64_t FrameSendRing::slowest_connection() const {
  uint64_t slowest = UINT64_MAX;
  for (uint32_t c = 0; c < connections_; ++c) slowest = std::min(slowest, progress_[c].load(std::memory_order_acquire));
  return slowest;
}

bool FrameSendRing::wait_for_room(uint64_t frame, const StopSignal& stop) {
  if (frame < room_before_) return true;
  StoppableSleep sleep(stop);
  // Rescanned only once the last scan's room is used up: O(connections) per ring's worth
  // of frames when the receivers keep up.
  while ((room_before_ = slowest_connection() + slots_) <= frame)
    if (abandoned_.load(std::memory_order_relaxed) || !sleep.until(monotonic_ns() + kRoomPollNs)) return false;
  return true;
}

void FrameSendRing::publish(uint64_t frame, int64_t due_ns, int64_t sent_ns) {
  Slot& slot = ring_[frame % slots_];
  slot.due_ns.store(due_ns, std::memory_order_relaxed);
  slot.sent_ns.store(sent_ns, std::memory_order_relaxed);
  slot.frame.store(frame, std::memory_order_release);
}

FrameSendRing::Entry FrameSendRing::entry(uint64_t frame) const {
  const Slot& slot = ring_[frame % slots_];
  const uint64_t holds = slot.frame.load(std::memory_order_acquire);
  if (holds != frame)
    throw RunError(fmt::format("frame {} completed while the sender's ring held frame {} in its place: a receiver "
                               "saw bytes the sender had not yet sent",
                               frame, holds == UINT64_MAX ? std::string("none") : std::to_string(holds)));
  return {slot.due_ns.load(std::memory_order_relaxed), slot.sent_ns.load(std::memory_order_relaxed)};
}

}  // namespace rcvq
