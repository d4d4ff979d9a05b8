#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

#include "common/stop.hpp"

namespace rcvq {

// How a streamed plan's frames carry their send times from one sender thread to the
// receivers of its connections, in place of the held plan's per-segment record: the
// sender writes a frame's entry just before the frame's last byte goes out, a receiver
// reads it the moment the frame completes and records the frame's latency. The sender
// stays fewer than `slots` frames ahead of the slowest of its connections, so no entry
// is overwritten before every connection has read it; memory is the ring, whatever the
// frame count.
class FrameSendRing {
 public:
  // 2^18 frames in flight: a 4 KB-frame replay never comes near it (its socket buffers
  // hold ~2,500); a replay of tiny frames waits for its receivers past 6 MB in flight.
  static constexpr uint64_t kSlots = uint64_t(1) << 18;

  // For the connections numbered [first_connection, first_connection + connections).
  FrameSendRing(uint32_t first_connection, uint32_t connections, uint64_t slots = kSlots);

  // Sender: waits until every connection has read frame `frame - slots`'s entry; false
  // when a stop request or abandon() ended the wait.
  bool wait_for_room(uint64_t frame, const StopSignal& stop);
  // The receivers gave up (timeout, error): a sender waiting for room stops waiting.
  void abandon() { abandoned_.store(true, std::memory_order_relaxed); }
  // Sender: frame `frame` was scheduled to finish at `due_ns` and was handed over at `sent_ns`.
  void publish(uint64_t frame, int64_t due_ns, int64_t sent_ns);

  struct Entry {
    int64_t due_ns = 0, sent_ns = 0;
  };
  // Receiver: frame `frame`'s entry; throws RunError if the sender has not written it
  // (a frame completed before it was sent) or has overwritten it.
  Entry entry(uint64_t frame) const;
  // Receiver: connection `connection` has read the entries of its first `frames` frames.
  void completed(uint32_t connection, uint64_t frames) {
    progress_[connection - first_connection_].store(frames, std::memory_order_release);
  }

 private:
  struct Slot {
    std::atomic<uint64_t> frame{UINT64_MAX};
    std::atomic<int64_t> due_ns{0}, sent_ns{0};
  };
  uint64_t slowest_connection() const;

  uint32_t first_connection_, connections_;
  uint64_t slots_;
  std::unique_ptr<Slot[]> ring_;
  std::unique_ptr<std::atomic<uint64_t>[]> progress_;
  uint64_t room_before_;  // the sender's: frames below it have a free slot
  std::atomic<bool> abandoned_{false};
};

}  // namespace rcvq
