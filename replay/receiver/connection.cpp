#include "receiver/connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/clock.hpp"
#include "common/errors.hpp"

namespace rcvq {

ReceiverCounters ReceiverCounters::operator-(const ReceiverCounters& o) const {
  return {epoll_waits - o.epoll_waits,     wakeups - o.wakeups,
          early_wakeups - o.early_wakeups, events - o.events,
          recv_calls - o.recv_calls,       setsockopt_calls - o.setsockopt_calls,
          other_syscalls - o.other_syscalls};
}

ReceiverCounters& ReceiverCounters::operator+=(const ReceiverCounters& o) {
  epoll_waits += o.epoll_waits;
  wakeups += o.wakeups;
  early_wakeups += o.early_wakeups;
  events += o.events;
  recv_calls += o.recv_calls;
  setsockopt_calls += o.setsockopt_calls;
  other_syscalls += o.other_syscalls;
  return *this;
}

Connection::Connection(int fd, const Framing& framing, ReceiverCounters& counters, uint32_t index)
    : fd_(fd), index_(index), scanner_(framing), counters_(counters) {}

Connection::Connection(Connection&& o) noexcept
    : fd_(o.fd_),
      index_(o.index_),
      scanner_(o.scanner_),
      hash_(o.hash_),
      counters_(o.counters_),
      frame_done_ns_(std::move(o.frame_done_ns_)),
      frames_completed_(o.frames_completed_),
      completed_through_(o.completed_through_),
      last_done_ns_(o.last_done_ns_),
      kept_from_(o.kept_from_),
      kept_count_(o.kept_count_),
      recording_(o.recording_),
      frames_expected_(o.frames_expected_),
      rcvlowat_(o.rcvlowat_),
      eof_(o.eof_) {
  o.fd_ = -1;
}

Connection::~Connection() {
  if (fd_ >= 0) close(fd_);
}

ssize_t Connection::receive(uint8_t* buf, size_t len) {
  ++counters_.recv_calls;
  ssize_t n = recv(fd_, buf, len, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return -1;
    throw_errno("recv");
  }
  if (n == 0) {
    eof_ = true;
    return 0;
  }
  std::span<const uint8_t> bytes(buf, size_t(n));
  ends_scratch_.clear();
  scanner_.feed(bytes, ends_scratch_);
  // The clock only for reads that complete a frame, and before the hash, whose time
  // grows with the read: the scan is all that lies between recv() and the stamp.
  if (!ends_scratch_.empty()) last_done_ns_ = monotonic_ns();
  hash_.update(bytes);
  if (!ends_scratch_.empty()) {
    completed_through_ = ends_scratch_.back();
    frames_done(ends_scratch_.size(), last_done_ns_);
  }
  return n;
}

void Connection::frames_done(uint64_t count, int64_t now_ns) {
  for (const uint64_t end = frames_completed_ + count; frames_completed_ < end; ++frames_completed_) {
    const uint64_t f = frames_completed_;
    if (f >= kept_from_ && f - kept_from_ < kept_count_) frame_done_ns_.push_back(now_ns);
    if (recording_.ring && f >= recording_.warmup_frames) {
      const FrameSendRing::Entry sent = recording_.ring->entry(f);
      recording_.latency->record(now_ns - (recording_.t0_ns + sent.due_ns));
      recording_.latency_from_send->record(now_ns - sent.sent_ns);
    }
  }
  if (recording_.ring) recording_.ring->completed(index_, frames_completed_);
}

void Connection::reset() {
  if (fd_ < 0) return;
  const linger abort{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  close(fd_);
  fd_ = -1;
}

bool Connection::set_rcvlowat(int value) {
  if (value == rcvlowat_) return true;
  ++counters_.setsockopt_calls;
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVLOWAT, &value, sizeof value) != 0) return false;
  rcvlowat_ = value;
  return true;
}

}  // namespace rcvq
