#pragma once
#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "common/stream_hash.hpp"
#include "framing/framing.hpp"
#include "plan/frame_send_ring.hpp"
#include "results/histogram.hpp"

namespace rcvq {

// Syscalls and wakeups the receiver loop made; every syscall goes through a counted
// wrapper so modes cannot make one that the metrics miss.
struct ReceiverCounters {
  uint64_t epoll_waits = 0;    // epoll_wait calls
  uint64_t wakeups = 0;        // epoll_wait returns with at least one event
  uint64_t early_wakeups = 0;  // wakeups after which no frame had completed
  uint64_t events = 0;         // (fd, event) pairs delivered
  uint64_t recv_calls = 0;
  uint64_t setsockopt_calls = 0;
  uint64_t other_syscalls = 0;  // e.g. getsockopt a mode needs on the hot path

  uint64_t syscalls() const { return epoll_waits + recv_calls + setsockopt_calls + other_syscalls; }
  ReceiverCounters operator-(const ReceiverCounters& o) const;
  ReceiverCounters& operator+=(const ReceiverCounters& o);  // threads' counters into a total
};

// Where a connection of a streamed plan records each measured frame's latency the
// moment the frame completes, its due and sent times read from the FrameSendRing of the
// connection's sender thread: no time is kept per frame.
struct LatencyRecording {
  FrameSendRing* ring = nullptr;
  int64_t t0_ns = 0;
  uint64_t warmup_frames = 0;
  Histogram* latency = nullptr;            // from the frame's planned time
  Histogram* latency_from_send = nullptr;  // from its last byte's hand-over
};

// One accepted connection: the socket, the frame assembler over its byte stream, and
// when its frames completed (every frame's time, or with LatencyRecording the latencies
// and a few times).
class Connection {
 public:
  Connection(int fd, const Framing& framing, ReceiverCounters& counters, uint32_t index);
  Connection(Connection&&) noexcept;
  Connection(const Connection&) = delete;
  ~Connection();

  int fd() const { return fd_; }
  uint32_t index() const { return index_; }
  const FrameScanner& scanner() const { return scanner_; }
  uint64_t frames_completed() const { return frames_completed_; }
  // One past the last byte of the last completed frame.
  uint64_t completed_through() const { return completed_through_; }
  // When the last completed frame completed (0 before the first).
  int64_t last_done_ns() const { return last_done_ns_; }
  // How many frames the plan sends on this connection; until told, more may come.
  void expect_frames(uint64_t frames) { frames_expected_ = frames; }
  bool has_every_frame() const { return frames_completed() >= frames_expected_; }
  // Completion times of the frames from kept_from() on (by default all of them).
  const std::vector<int64_t>& frame_done_ns() const { return frame_done_ns_; }
  uint64_t kept_from() const { return kept_from_; }
  // Keeps the completion times of `count` frames from frame `first` on only.
  void keep_done_times(uint64_t first, uint64_t count) {
    kept_from_ = first;
    kept_count_ = count;
  }
  void record_latency(const LatencyRecording& recording) { recording_ = recording; }
  uint64_t hash() const { return hash_.value(); }
  bool eof() const { return eof_; }
  bool malformed() const { return scanner_.malformed(); }

  // Counted syscalls.
  // Returns bytes read, 0 at EOF, -1 on EAGAIN; throws RunError on other errors.
  // Frames the bytes complete are stamped with the time recv() returned (read once
  // their prefixes are scanned, before the hash).
  ssize_t receive(uint8_t* buf, size_t len);
  // SO_RCVLOWAT, skipped when the value is already set; returns false with errno set.
  bool set_rcvlowat(int value);
  // Aborts the connection with a RST (SO_LINGER 0): its peer's sends fail at once.
  void reset();
  int rcvlowat() const { return rcvlowat_; }

 private:
  int fd_;
  uint32_t index_;
  FrameScanner scanner_;
  StreamHash hash_;
  ReceiverCounters& counters_;
  void frames_done(uint64_t count, int64_t now_ns);

  std::vector<int64_t> frame_done_ns_;
  uint64_t frames_completed_ = 0, completed_through_ = 0;
  int64_t last_done_ns_ = 0;
  uint64_t kept_from_ = 0, kept_count_ = UINT64_MAX;
  LatencyRecording recording_;
  std::vector<uint64_t> ends_scratch_;
  uint64_t frames_expected_ = UINT64_MAX;
  int rcvlowat_ = 1;
  bool eof_ = false;
};

}  // namespace rcvq
