#pragma once
#include <cstdint>

namespace rcvq::tap {

// Sequence-space comparisons modulo 2^32 (RFC 793).
inline bool seq_before(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }
inline bool seq_after(uint32_t a, uint32_t b) { return int32_t(a - b) > 0; }

// What the peer knows about the receiver's window: the highest cumulative ACK and the
// window advertised with it. The peer only sends a segment whose end lies within
// snd_una + window; it never sends past the right edge the receiver announced.
class SendWindow {
 public:
  void start(uint32_t first_unacked, uint32_t window) {
    una_ = first_unacked;
    right_edge_ = first_unacked + window;
    max_sent_ = first_unacked;
  }
  // An ACK from the receiver; `window` is already scaled. Returns true when it
  // acknowledged new data. ACKs older than the last one (or for data never sent) are
  // ignored; otherwise the newest ACK's edge rules, even if it moved left.
  bool on_ack(uint32_t ack, uint32_t window) {
    if (seq_after(ack, max_sent_) || seq_before(ack, una_)) return false;
    const bool advanced = seq_after(ack, una_);
    una_ = ack;
    right_edge_ = ack + window;
    return advanced;
  }
  void on_sent(uint32_t end_seq) {
    if (seq_after(end_seq, max_sent_)) max_sent_ = end_seq;
  }
  bool fits(uint32_t end_seq) const { return !seq_after(end_seq, right_edge_); }
  uint32_t una() const { return una_; }
  uint32_t max_sent() const { return max_sent_; }
  uint32_t right_edge() const { return right_edge_; }
  uint32_t in_flight() const { return max_sent_ - una_; }

 private:
  uint32_t una_ = 0, right_edge_ = 0, max_sent_ = 0;
};

}  // namespace rcvq::tap
