#include "receiver/autolowat_model.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace {

// The model's payload reader: the skb's bytes in memory.
struct MemoryPayload {
  const uint8_t* data;
  size_t size;
};

int load_from_memory(void* reader, uint32_t offset, uint8_t* dst, uint32_t len) {
  const auto* payload = static_cast<const MemoryPayload*>(reader);
  if (uint64_t(offset) + len > payload->size) return -EFAULT;
  std::memcpy(dst, payload->data + offset, len);
  return 0;
}

}  // namespace

#define FT_LOAD_BYTES(reader, offset, dst, len) load_from_memory((reader), (offset), (dst), (len))
#include "frame_tracker.h"

namespace rcvq {
namespace {

TrackerVerdict to_verdict(const ft_verdict& v) {
  return {v.lowat, v.disable != 0, v.stop_reason, v.descriptors};
}

}  // namespace

std::string_view tracker_stop_reason_name(uint32_t reason) {
  switch (reason) {
    case FT_RUNNING: return "running";
    case FT_STOP_FIN: return "fin";
    case FT_STOP_LOAD_ERROR: return "load-error";
    case FT_STOP_FRAME_TOO_LONG: return "frame-longer-than-INT_MAX";
    case FT_STOP_TOO_MANY_DESCRIPTORS: return "too-many-descriptors-in-one-skb";
    case FT_STOP_MALFORMED_DESCRIPTOR: return "malformed-descriptor";
    case FT_STOP_BAD_SPEC: return "bad-framing-spec";
    case FT_STOP_SEQUENCE_GAP: return "sequence-gap";
  }
  return "unknown";
}

FrameTrackerModel::FrameTrackerModel(const ft_spec& spec, uint32_t copied_seq)
    : spec_(spec), state_(new ft_state{}) {
  ft_init(state_, &spec_, copied_seq);
}

FrameTrackerModel::FrameTrackerModel(const FrameTrackerModel& other)
    : spec_(other.spec_), state_(new ft_state(*other.state_)) {}

FrameTrackerModel& FrameTrackerModel::operator=(const FrameTrackerModel& other) {
  spec_ = other.spec_;
  *state_ = *other.state_;
  return *this;
}

FrameTrackerModel::~FrameTrackerModel() { delete state_; }

TrackerVerdict FrameTrackerModel::on_skb(uint32_t seq, std::span<const uint8_t> payload,
                                         bool fin, uint32_t copied_seq) {
  MemoryPayload reader{payload.data(), payload.size()};
  ft_verdict v{};
  ft_on_skb(state_, &spec_, &reader, seq, seq + uint32_t(payload.size()), fin ? 1 : 0,
            copied_seq, &v);
  return to_verdict(v);
}

TrackerVerdict FrameTrackerModel::on_read(uint32_t copied_seq) {
  ft_verdict v{};
  ft_on_read(state_, &spec_, copied_seq, &v);
  return to_verdict(v);
}

bool FrameTrackerModel::stopped() const { return state_->stop_reason != FT_RUNNING; }
uint32_t FrameTrackerModel::stop_reason() const { return state_->stop_reason; }
uint32_t FrameTrackerModel::desc_seq() const { return state_->desc_seq; }

ReaderPrediction predict_reader(const ft_spec& spec, std::span<const uint8_t> stream,
                                std::span<const uint64_t> frame_ends,
                                std::span<const StreamArrival> arrivals,
                                const ReaderModelOptions& options) {
  ReaderPrediction out;
  FrameTrackerModel tracker(spec, options.isn);
  const uint32_t read_size = std::max<uint32_t>(options.read_size, 1);
  uint64_t queued = 0;  // stream bytes on the receive queue or already read
  uint64_t copied = 0;  // stream bytes the reader has taken
  size_t next_frame = 0;

  for (const StreamArrival& arrival : arrivals) {
    const uint64_t end = std::min<uint64_t>(arrival.end_offset, stream.size());
    if (end <= queued && !arrival.fin) continue;
    const uint64_t begin = std::min(queued, end);
    TrackerVerdict v = tracker.on_skb(options.isn + uint32_t(begin),
                                      stream.subspan(begin, end - begin), arrival.fin,
                                      options.isn + uint32_t(copied));
    ++out.skbs;
    queued = std::max(queued, end);
    if (v.disable && out.stop_reason == 0) {
      out.stop_reason = v.stop_reason;
      out.stopped_at_offset = begin;
    }
    // tcp_data_ready: wake when the unread bytes reach rcvlowat (clamped the way
    // __tcp_set_rcvlowat clamps it), or at end of stream. A level-triggered reader is
    // woken again at once while what is left still reaches rcvlowat.
    uint64_t lowat = std::max<uint64_t>(1, std::min(v.lowat, options.lowat_cap));
    bool first = true;
    while (queued > copied && (queued - copied >= lowat || arrival.fin)) {
      const bool counted = out.frames >= options.measure_after_frames;
      if (counted && out.frames < options.measure_after_frames + options.timeline_frames)
        out.timeline_wakeup_ns.push_back(arrival.ts_ns);
      if (first && counted) ++out.data_ready_calls;
      first = false;
      const uint64_t unread = queued - copied;
      uint64_t recvs;
      if (options.edge_triggered) {
        recvs = (unread + read_size - 1) / read_size + 1;  // the last one says EAGAIN
        copied = queued;
      } else {
        recvs = 1;
        copied += std::min<uint64_t>(unread, read_size);
      }
      lowat = std::max<uint64_t>(1, std::min(tracker.on_read(options.isn + uint32_t(copied)).lowat,
                                             options.lowat_cap));
      const uint64_t frames_before = out.frames;
      while (next_frame < frame_ends.size() && frame_ends[next_frame] <= copied) {
        out.frame_done_ns.push_back(arrival.ts_ns);
        ++out.frames;
        ++next_frame;
      }
      if (!counted) continue;
      ++out.wakeups;
      ++out.epoll_waits;
      out.recv_calls += recvs;
      if (out.frames == frames_before) ++out.early_wakeups;
    }
  }
  return out;
}

}  // namespace rcvq
