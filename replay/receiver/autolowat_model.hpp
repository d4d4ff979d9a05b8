#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "frame_spec.h"

extern "C" {
struct ft_state;
}

namespace rcvq {

// The rcvlowat decision after one event, as bpf/frame_tracker.h returns it.
struct TrackerVerdict {
  uint32_t lowat = 1;
  bool disable = false;
  uint32_t stop_reason = 0;  // enum ft_stop_reason
  uint32_t descriptors = 0;  // descriptors completed in the skb
};

// Name of an ft_stop_reason value ("running", "fin", "load-error", ...).
std::string_view tracker_stop_reason_name(uint32_t reason);

// One socket's frame tracker in userspace: the very C core the BPF programs run, with
// the payload read from memory instead of the skb.
class FrameTrackerModel {
 public:
  // Tracking is enabled at a quiet point where the reader stands at `copied_seq`.
  FrameTrackerModel(const ft_spec& spec, uint32_t copied_seq);
  FrameTrackerModel(const FrameTrackerModel&);
  FrameTrackerModel& operator=(const FrameTrackerModel&);
  ~FrameTrackerModel();

  // An skb covering [seq, seq + payload.size()) was queued.
  TrackerVerdict on_skb(uint32_t seq, std::span<const uint8_t> payload, bool fin,
                        uint32_t copied_seq);
  // recvmsg() returned and the reader now stands at `copied_seq`.
  TrackerVerdict on_read(uint32_t copied_seq);

  bool stopped() const;
  uint32_t stop_reason() const;
  uint32_t desc_seq() const;
  const ft_state& state() const { return *state_; }

 private:
  ft_spec spec_;
  ft_state* state_;
};

// A point in the receive stream: by `ts_ns` the receiver's TCP had queued every byte
// before stream offset `end_offset` (one skb, or one sk_data_ready batch).
struct StreamArrival {
  int64_t ts_ns = 0;
  uint64_t end_offset = 0;
  bool fin = false;
};

struct ReaderModelOptions {
  uint32_t read_size = 65536;
  // The shared harness: level-triggered, one recv of up to read_size per wakeup (more
  // unread data means another wakeup at once); edge-triggered, recv until EAGAIN.
  bool edge_triggered = false;
  // Count only wakeups after this many frames were complete (the measured window).
  uint64_t measure_after_frames = 0;
  // __tcp_set_rcvlowat caps the value at half the receive buffer limit.
  uint32_t lowat_cap = 0x7fffffff;
  uint32_t isn = 0;  // sequence number of stream offset 0 (exercises wraparound)
  // Timestamp the measured wakeups until this many frames past measure_after_frames
  // are complete, as the harness does for the report's timeline.
  uint64_t timeline_frames = 0;
};

// What a level-triggered epoll reader would pay with the hook in the kernel, assuming
// it wakes as soon as sk_data_ready fires and drains the queue before the next skb.
struct ReaderPrediction {
  uint64_t wakeups = 0;
  uint64_t early_wakeups = 0;  // wakeups after which no frame had completed
  uint64_t recv_calls = 0;
  uint64_t epoll_waits = 0;
  uint64_t data_ready_calls = 0;     // skbs after which the queue was readable
  uint64_t frames = 0;               // frames the reader completed
  std::vector<int64_t> frame_done_ns;  // arrival time at which each frame was read
  std::vector<int64_t> timeline_wakeup_ns;  // arrival time of each wakeup in the timeline window
  uint32_t stop_reason = 0;          // why the tracker disabled itself, 0 = never
  uint64_t stopped_at_offset = 0;    // stream offset of the skb that stopped it
  uint64_t skbs = 0;
};

// Replays `arrivals` (increasing end offsets over `stream`) through the tracker and the
// kernel's wake rule (readable when unread bytes >= rcvlowat), enabling the tracker at
// stream offset 0. Frame ends are `frame_ends` (stream offsets, increasing).
ReaderPrediction predict_reader(const ft_spec& spec, std::span<const uint8_t> stream,
                                std::span<const uint64_t> frame_ends,
                                std::span<const StreamArrival> arrivals,
                                const ReaderModelOptions& options);

}  // namespace rcvq
