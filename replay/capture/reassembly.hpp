#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "capture/decode.hpp"

namespace rcvq {

// Receives one direction's byte stream in order, as the capture cut it.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // The new bytes of one captured segment, at stream `offset`, captured at `time_ns`.
  virtual void on_data(uint64_t offset, std::span<const uint8_t> bytes, int64_t time_ns, uint64_t packet) = 0;
  // Bytes [offset, offset + length) were never captured; data resumes after them with
  // packet `packet` (0 when the stream ends in the gap).
  virtual void on_gap(uint64_t offset, uint64_t length, uint64_t packet) = 0;
};

struct ReassemblyLimits {
  // Out-of-order bytes held while waiting for a hole to fill; past this the hole is
  // declared a gap. This bounds memory per direction, whatever the file size.
  uint64_t max_pending_bytes = 64ULL << 20;
  // Recently delivered bytes kept to compare retransmissions against (a power of two).
  // Every delivered byte is copied in: a ring that stays in cache keeps that cheap
  // (64 KiB per direction made the copy most of inspect's time on many flows).
  uint32_t history_bytes = 1u << 13;
};

struct StreamGap {
  uint64_t offset = 0, length = 0;
  uint64_t packet = 0;  // the packet data resumes with, 0 at the end of the stream
};

struct DirectionStats {
  uint64_t packets = 0, frame_bytes = 0;  // every packet of the direction (tshark's conv)
  uint64_t data_segments = 0;             // packets with TCP payload
  uint64_t payload_bytes = 0;             // sum of TCP payload lengths (tshark's tcp.len)
  uint64_t stream_bytes = 0;              // distinct bytes delivered in order
  uint64_t retransmitted_segments = 0, retransmitted_bytes = 0;
  uint64_t out_of_order_segments = 0;
  uint64_t conflicting_bytes = 0, first_conflict_packet = 0;  // overlaps that disagree
  uint64_t unchecked_overlap_bytes = 0;  // resent bytes older than the history: not compared
  uint64_t truncated_segments = 0, first_truncated_packet = 0;  // snaplen cut the payload
  uint64_t bytes_before_start = 0;  // older than the first byte seen (mid-stream start)
  uint64_t gap_count = 0, gap_bytes = 0;
  std::vector<StreamGap> gaps;  // the first kMaxReportedGaps
  bool syn = false, fin = false, rst = false;
  int64_t first_time_ns = 0, last_time_ns = 0;
};

inline constexpr size_t kMaxReportedGaps = 64;

// TCP reassembly of one direction: retransmissions and overlaps keep the first copy
// (conflicting bytes are counted), out-of-order data waits for the hole to fill, and
// holes that never fill (loss, snaplen, the cap) become gaps with their offsets.
class DirectionReassembler {
 public:
  DirectionReassembler(const ReassemblyLimits& limits, StreamSink* sink);

  void on_segment(const TcpSegment& segment, uint64_t packet, int64_t time_ns, uint32_t wire_length);
  void finish();  // end of capture: every remaining hole is a gap

  const DirectionStats& stats() const { return stats_; }
  bool started() const { return started_; }

 private:
  struct Pending {
    std::vector<uint8_t> bytes;
    uint64_t packet;
    int64_t time_ns;
  };
  void accept(uint64_t offset, const uint8_t* data, uint64_t length, uint64_t packet, int64_t time_ns);
  void deliver(uint64_t offset, const uint8_t* data, uint64_t length, uint64_t packet, int64_t time_ns);
  void hold(uint64_t offset, const uint8_t* data, uint64_t length, uint64_t packet, int64_t time_ns);
  void drain();
  void declare_gap(uint64_t resume_at, uint64_t packet);
  // Counts bytes of [offset, offset + length) that differ from what was kept.
  void compare_with_history(uint64_t offset, const uint8_t* data, uint64_t length, uint64_t packet);
  void count_conflicts(uint64_t differing, uint64_t packet);

  ReassemblyLimits limits_;
  StreamSink* sink_;
  bool started_ = false;
  uint32_t base_seq_ = 0;         // sequence number of stream offset 0
  uint64_t next_ = 0;             // next stream offset expected
  uint64_t wire_end_ = 0;         // furthest end of any segment on the wire
  uint64_t truncated_end_ = 0;    // wire end of the last snaplen-truncated segment
  uint64_t history_valid_from_ = 0;  // history before the last gap is stale
  std::map<uint64_t, Pending> pending_;
  uint64_t pending_bytes_ = 0;
  std::vector<uint8_t> history_;  // ring: stream offset & (size - 1)
  DirectionStats stats_;
};

}  // namespace rcvq
