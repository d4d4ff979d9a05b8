#include "capture/reassembly.hpp"

#include <algorithm>
#include <cstring>

namespace rcvq {

DirectionReassembler::DirectionReassembler(const ReassemblyLimits& limits, StreamSink* sink)
    : limits_(limits), sink_(sink) {}

void DirectionReassembler::on_segment(const TcpSegment& segment, uint64_t packet, int64_t time_ns,
                                      uint32_t wire_length) {
  if (stats_.packets == 0) stats_.first_time_ns = time_ns;
  stats_.last_time_ns = time_ns;
  ++stats_.packets;
  stats_.frame_bytes += wire_length;
  const bool syn = segment.flags & kTcpSyn;
  if (segment.flags & kTcpRst) stats_.rst = true;
  if (segment.flags & kTcpFin) stats_.fin = true;
  if (syn) {
    stats_.syn = true;
    if (!started_) {
      started_ = true;
      base_seq_ = segment.seq + 1;
    }
  }
  if (segment.payload_length == 0) return;
  ++stats_.data_segments;
  stats_.payload_bytes += segment.payload_length;
  const uint32_t data_seq = segment.seq + (syn ? 1 : 0);
  if (!started_) {  // the capture starts mid-stream: its first byte is offset 0
    started_ = true;
    base_seq_ = data_seq;
  }
  // 32-bit sequence numbers unwrap around the next expected offset.
  const int64_t delta = int32_t((data_seq - base_seq_) - uint32_t(next_));
  int64_t offset = int64_t(next_) + delta;
  const uint8_t* data = segment.payload;
  uint64_t wire = segment.payload_length, captured = segment.captured_payload;
  if (offset + int64_t(wire) <= 0) {
    stats_.bytes_before_start += wire;
    return;
  }
  if (offset < 0) {
    const uint64_t skip = uint64_t(-offset);
    stats_.bytes_before_start += skip;
    const uint64_t skip_captured = std::min(skip, captured);
    data += skip_captured;
    captured -= skip_captured;
    wire -= skip;
    offset = 0;
  }
  const uint64_t start = uint64_t(offset);
  wire_end_ = std::max(wire_end_, start + wire);
  if (captured < wire) {
    if (stats_.truncated_segments++ == 0) stats_.first_truncated_packet = packet;
    truncated_end_ = std::max(truncated_end_, start + wire);
  }
  if (start + wire <= next_) {
    ++stats_.retransmitted_segments;
    stats_.retransmitted_bytes += wire;
    compare_with_history(start, data, captured, packet);
    return;
  }
  if (start > next_) ++stats_.out_of_order_segments;
  accept(start, data, captured, packet, time_ns);
}

void DirectionReassembler::accept(uint64_t offset, const uint8_t* data, uint64_t length, uint64_t packet,
                                  int64_t time_ns) {
  if (length == 0) return;
  if (offset > next_) {
    // Right after a snaplen-truncated segment: the bytes it lost are gone for good.
    const bool hole_was_truncated = truncated_end_ >= offset && (pending_.empty() || pending_.begin()->first >= offset);
    if (!hole_was_truncated) {
      hold(offset, data, length, packet, time_ns);
      if (pending_bytes_ > limits_.max_pending_bytes) {
        declare_gap(pending_.begin()->first, pending_.begin()->second.packet);
        drain();
      }
      return;
    }
    declare_gap(offset, packet);
  }
  if (offset + length <= next_) {
    // New bytes on the wire, but the capture cut them off (snaplen): nothing to add.
    compare_with_history(offset, data, length, packet);
    return;
  }
  if (offset < next_) {
    const uint64_t overlap = next_ - offset;
    compare_with_history(offset, data, overlap, packet);
    stats_.retransmitted_bytes += overlap;
    data += overlap;
    length -= overlap;
    offset = next_;
  }
  deliver(offset, data, length, packet, time_ns);
  drain();
}

void DirectionReassembler::deliver(uint64_t offset, const uint8_t* data, uint64_t length, uint64_t packet,
                                   int64_t time_ns) {
  sink_->on_data(offset, {data, size_t(length)}, time_ns, packet);
  if (limits_.history_bytes) {
    if (history_.empty()) history_.resize(limits_.history_bytes);
    const uint64_t mask = limits_.history_bytes - 1;
    const uint64_t keep = std::min<uint64_t>(length, limits_.history_bytes);
    for (uint64_t done = 0; done < keep;) {
      const uint64_t at = (offset + length - keep + done) & mask;
      const uint64_t run = std::min(keep - done, limits_.history_bytes - at);
      std::memcpy(history_.data() + at, data + length - keep + done, run);
      done += run;
    }
  }
  next_ = offset + length;
  stats_.stream_bytes += length;
}

void DirectionReassembler::hold(uint64_t offset, const uint8_t* data, uint64_t length, uint64_t packet,
                                int64_t time_ns) {
  const uint64_t end = offset + length;
  uint64_t at = offset;
  auto compare_piece = [&](const Pending& held, uint64_t held_at, uint64_t from, uint64_t to) {
    uint64_t differing = 0;
    for (uint64_t o = from; o < to; ++o) differing += held.bytes[o - held_at] != data[o - offset];
    count_conflicts(differing, packet);
    stats_.retransmitted_bytes += to - from;
  };
  auto it = pending_.upper_bound(at);
  if (it != pending_.begin()) {
    auto previous = std::prev(it);
    const uint64_t previous_end = previous->first + previous->second.bytes.size();
    if (previous_end > at) {
      const uint64_t overlap_end = std::min(end, previous_end);
      compare_piece(previous->second, previous->first, at, overlap_end);
      at = overlap_end;
    }
  }
  while (at < end) {
    it = pending_.lower_bound(at);
    const uint64_t piece_end = it == pending_.end() ? end : std::min(end, it->first);
    if (piece_end > at) {
      pending_.emplace(at, Pending{std::vector<uint8_t>(data + (at - offset), data + (piece_end - offset)),
                                   packet, time_ns});
      pending_bytes_ += piece_end - at;
      at = piece_end;
    }
    if (at < end && it != pending_.end() && it->first == at) {
      const uint64_t overlap_end = std::min(end, it->first + it->second.bytes.size());
      compare_piece(it->second, it->first, at, overlap_end);
      at = overlap_end;
    }
  }
}

void DirectionReassembler::drain() {
  while (!pending_.empty() && pending_.begin()->first <= next_) {
    auto node = pending_.extract(pending_.begin());
    const uint64_t offset = node.key();
    Pending& piece = node.mapped();
    pending_bytes_ -= piece.bytes.size();
    const uint64_t end = offset + piece.bytes.size();
    if (end <= next_) {
      compare_with_history(offset, piece.bytes.data(), piece.bytes.size(), piece.packet);
      continue;
    }
    const uint64_t skip = next_ - offset;
    compare_with_history(offset, piece.bytes.data(), skip, piece.packet);
    deliver(next_, piece.bytes.data() + skip, piece.bytes.size() - skip, piece.packet, piece.time_ns);
  }
}

void DirectionReassembler::declare_gap(uint64_t resume_at, uint64_t packet) {
  const StreamGap gap{next_, resume_at - next_, packet};
  ++stats_.gap_count;
  stats_.gap_bytes += gap.length;
  if (stats_.gaps.size() < kMaxReportedGaps) stats_.gaps.push_back(gap);
  sink_->on_gap(gap.offset, gap.length, gap.packet);
  next_ = resume_at;
  history_valid_from_ = resume_at;
}

void DirectionReassembler::compare_with_history(uint64_t offset, const uint8_t* data, uint64_t length,
                                                uint64_t packet) {
  const uint64_t to = std::min(offset + length, next_);
  if (length == 0 || offset >= to) return;
  const uint64_t window = limits_.history_bytes;
  const uint64_t from =
      std::min(to, std::max({offset, history_valid_from_, next_ > window ? next_ - window : 0}));
  stats_.unchecked_overlap_bytes += from - offset;
  if (history_.empty()) return;
  uint64_t differing = 0;
  for (uint64_t o = from; o < to; ++o) differing += history_[o & (window - 1)] != data[o - offset];
  count_conflicts(differing, packet);
}

void DirectionReassembler::count_conflicts(uint64_t differing, uint64_t packet) {
  if (differing == 0) return;
  if (stats_.conflicting_bytes == 0) stats_.first_conflict_packet = packet;
  stats_.conflicting_bytes += differing;
}

void DirectionReassembler::finish() {
  while (!pending_.empty()) {
    declare_gap(pending_.begin()->first, pending_.begin()->second.packet);
    drain();
  }
  if (wire_end_ > next_) declare_gap(wire_end_, 0);
}

}  // namespace rcvq
