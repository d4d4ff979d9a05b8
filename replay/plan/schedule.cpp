#include "plan/schedule.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/errors.hpp"

namespace rcvq {
namespace {

// Send times are int64 ns from the replay start, to which the runner adds the start
// time and a timeout: past 2^62 ns (146 years) a schedule can neither run nor be added
// to without overflowing into negative times.
constexpr double kMaxSendAtNs = double(int64_t(1) << 62);

// A socket send() takes at most INT_MAX bytes per call; larger chunks are split.
constexpr uint64_t kMaxSendPiece = 1u << 30;

// Chunk lengths for one frame of `len` bytes.
void cut_frame(const Segmentation& seg, uint64_t len, std::mt19937_64& rng, std::vector<uint64_t>& chunks) {
  chunks.clear();
  auto fill_with = [&](auto next_size) {
    for (uint64_t done = 0, i = 0; done < len; ++i) {
      uint64_t n = std::min<uint64_t>(next_size(i), len - done);
      chunks.push_back(n);
      done += n;
    }
  };
  using K = Segmentation::Kind;
  switch (seg.kind) {
    case K::Whole:
    case K::AsCaptured:
      chunks.push_back(len);
      break;
    case K::Fixed:
      if (seg.chunks != 0) {
        const uint64_t parts = std::min<uint64_t>(seg.chunks, len);
        for (uint64_t i = 0; i < parts; ++i) chunks.push_back(len / parts + (i < len % parts ? 1 : 0));
      } else {
        fill_with([&](uint64_t) { return seg.fixed; });
      }
      break;
    case K::Sizes:
      fill_with([&](uint64_t i) { return seg.sizes[std::min<size_t>(i, seg.sizes.size() - 1)]; });
      break;
    case K::Random:
      fill_with([&](uint64_t) {
        return std::uniform_int_distribution<uint64_t>(seg.random_min, seg.random_max)(rng);
      });
      break;
    case K::SplitDescriptor:
      chunks.push_back(std::min(seg.split_at, len));
      if (len > seg.split_at) chunks.push_back(len - seg.split_at);
      break;
  }
}

// The send time `gap_ns` after `t`; bad input naming `key` when past kMaxSendAtNs.
int64_t send_time_after(const Scenario& sc, int64_t t, double gap_ns, const char* key) {
  const double at = double(t) + gap_ns;
  if (at > kMaxSendAtNs)
    throw InputError(fmt::format("{}: {} puts a send {:.3g} s after the replay start, past the 2^62 ns (146 years) "
                                 "a replay can schedule",
                                 sc.path, key, at / 1e9));
  return t + int64_t(gap_ns);
}

}  // namespace

PerFrameSchedule::PerFrameSchedule(const Scenario& scenario)
    : scenario_(scenario), random_cuts_(scenario.source.synthetic.seed ^ 0x5bd1e995ULL) {}

int64_t PerFrameSchedule::after(double gap_us, const char* key) const {
  return send_time_after(scenario_, t_, gap_us * 1000, key);
}

void PerFrameSchedule::add_preamble(uint64_t bytes, std::vector<PlannedSegment>& out) {
  out.push_back({0, uint32_t(bytes), t_, kSegNone});
  t_ += int64_t(scenario_.segmentation.frame_gap_us) * 1000;
}

void PerFrameSchedule::add_frame(uint64_t start, uint64_t end, std::vector<PlannedSegment>& out) {
  const Segmentation& seg = scenario_.segmentation;
  if (started_) t_ = after(double(seg.frame_gap_us), "segmentation.frame_gap_us");
  started_ = true;
  cut_frame(seg, end - start, random_cuts_, chunks_);
  uint64_t offset = start;
  for (size_t c = 0; c < chunks_.size(); ++c) {
    if (c > 0) t_ = after(double(seg.chunk_gap_us), "segmentation.chunk_gap_us");
    for (uint64_t left = chunks_[c]; left > 0;) {
      const uint32_t piece = uint32_t(std::min(left, kMaxSendPiece));
      out.push_back({offset, piece, t_, kSegNone});
      offset += piece;
      left -= piece;
    }
  }
}

int64_t CapturedSchedule::next(int64_t time_ns) {
  const Segmentation& seg = scenario_.segmentation;
  if (started_) {
    double gap = double(std::max<int64_t>(0, time_ns - previous_time_ns_)) * seg.time_scale;
    if (seg.max_gap_us) gap = std::min(gap, double(seg.max_gap_us) * 1000);
    t_ = send_time_after(scenario_, t_, gap, "segmentation.time_scale times the capture's gaps (max_gap_us caps them)");
  }
  started_ = true;
  previous_time_ns_ = time_ns;
  return t_;
}

}  // namespace rcvq
