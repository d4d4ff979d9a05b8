#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "plan/plan.hpp"

namespace rcvq {
namespace {

constexpr uint32_t kEthernetMtu = 1500;

// One wire packet never carries more than the MSS: a planned chunk larger than that
// reaches the receiver as back-to-back MSS-sized packets, as it would from a NIC.
std::vector<PlannedSegment> cut_to_mss(const std::vector<PlannedSegment>& in, uint32_t mss) {
  std::vector<PlannedSegment> out;
  out.reserve(in.size());
  for (const PlannedSegment& s : in) {
    for (uint32_t done = 0; done < s.length;) {
      const uint32_t piece = std::min(mss, s.length - done);
      out.push_back({s.offset + done, piece, s.send_at_ns, s.flags});
      done += piece;
    }
  }
  return out;
}

void apply_gaps(const std::vector<uint64_t>& gaps_us, std::vector<PlannedSegment>& segs) {
  int64_t t = 0;
  for (size_t i = 0; i < segs.size(); ++i) {
    if (i > 0) t += int64_t(gaps_us[i % gaps_us.size()]) * 1000;
    segs[i].send_at_ns = t;
  }
}

// The overlapping packet starts `bytes` before its own data; if that makes it longer
// than the MSS, its tail moves into a second packet sent at the same time.
std::vector<PlannedSegment> apply_overlap(const PacketEffects& fx, const std::vector<PlannedSegment>& in,
                                          uint32_t mss) {
  std::vector<PlannedSegment> out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    PlannedSegment s = in[i];
    const uint64_t back = std::min<uint64_t>(fx.overlap_bytes, s.offset);
    if (!fx.overlap.hits(i) || back == 0) {
      out.push_back(s);
      continue;
    }
    const uint64_t end = s.offset + s.length;
    s.offset -= back;
    s.length = uint32_t(std::min<uint64_t>(end - s.offset, mss));
    s.flags |= kSegOverlap;
    out.push_back(s);
    if (s.offset + s.length < end)
      out.push_back({s.offset + s.length, uint32_t(end - s.offset - s.length), s.send_at_ns, kSegNone});
  }
  return out;
}

struct Tx {
  PlannedSegment seg;
  size_t origin;  // index in the cut, which the effect rules count
};

// Returns the retransmissions of dropped segments in `late`, to be merged in by time
// once reordering has permuted the regular slots (so they keep their delay).
std::vector<Tx> apply_drop_and_duplicate(const PacketEffects& fx, const std::vector<PlannedSegment>& in,
                                         std::vector<Tx>& late) {
  std::vector<Tx> out;
  for (size_t i = 0; i < in.size(); ++i) {
    Tx tx{in[i], i};
    if (fx.drop.hits(i)) {
      tx.seg.flags |= kSegDropped;
      Tx again{in[i], i};
      again.seg.flags |= kSegRetransmit;
      again.seg.send_at_ns += int64_t(fx.retransmit_after_us) * 1000;
      late.push_back(again);
      out.push_back(tx);
      continue;
    }
    out.push_back(tx);
    if (fx.duplicate.hits(i)) {
      Tx copy = tx;
      copy.seg.flags |= kSegDuplicate;
      out.push_back(copy);
    }
  }
  return out;
}

void merge_late(const std::vector<Tx>& late, std::vector<Tx>& txs) {
  for (const Tx& r : late) {
    // After every packet planned at or before its time, so timing stays monotonic.
    auto at = std::upper_bound(txs.begin(), txs.end(), r.seg.send_at_ns,
                               [](int64_t t, const Tx& x) { return t < x.seg.send_at_ns; });
    txs.insert(at, r);
  }
}

// Holding a packet back keeps the time slots where they are: the held packet goes out
// in the slot k positions later, and the ones it skipped move up one slot each.
void apply_reorder(const PacketEffects& fx, std::vector<Tx>& txs) {
  std::vector<int64_t> slots;
  slots.reserve(txs.size());
  for (const Tx& t : txs) slots.push_back(t.seg.send_at_ns);
  std::vector<bool> moved(txs.size(), false);
  for (size_t p = 0; p < txs.size(); ++p) {
    const Tx& t = txs[p];
    if (moved[p] || !fx.reorder.hits(t.origin) || (t.seg.flags & (kSegDuplicate | kSegRetransmit))) continue;
    const size_t to = std::min(p + fx.reorder_by, txs.size() - 1);
    if (to == p) continue;
    Tx held = t;
    held.seg.flags |= kSegReordered;
    txs.erase(txs.begin() + ptrdiff_t(p));
    moved.erase(moved.begin() + ptrdiff_t(p));
    txs.insert(txs.begin() + ptrdiff_t(to), held);
    moved.insert(moved.begin() + ptrdiff_t(to), true);
    --p;  // the packet that moved into position p has not been looked at yet
  }
  for (size_t i = 0; i < txs.size(); ++i) txs[i].seg.send_at_ns = slots[i];
}

// A frame is complete once every byte up to its end has arrived; with reordering and
// drops that is not the packet carrying its last byte, so walk the transmissions.
void map_frames(ReplayPlan& plan) {
  std::map<uint64_t, uint64_t> pending;  // received ranges beyond the in-order prefix
  uint64_t contiguous = 0;
  size_t next_frame = 0;
  for (PlannedFrame& f : plan.frames) f.first_segment = UINT32_MAX;
  for (size_t j = 0; j < plan.segments.size(); ++j) {
    const PlannedSegment& s = plan.segments[j];
    if (s.flags & kSegDropped) continue;
    const uint64_t end = s.offset + s.length;
    // First transmission touching each frame.
    auto first = std::partition_point(plan.frames.begin(), plan.frames.end(),
                                      [&](const PlannedFrame& f) { return f.end <= s.offset; });
    for (auto f = first; f != plan.frames.end() && f->start < end; ++f)
      f->first_segment = std::min<uint32_t>(f->first_segment, uint32_t(j));
    auto& slot = pending[s.offset];
    slot = std::max(slot, end);
    while (!pending.empty() && pending.begin()->first <= contiguous) {
      contiguous = std::max(contiguous, pending.begin()->second);
      pending.erase(pending.begin());
    }
    while (next_frame < plan.frames.size() && plan.frames[next_frame].end <= contiguous)
      plan.frames[next_frame++].last_segment = uint32_t(j);
  }
  for (PlannedFrame& f : plan.frames)
    if (f.first_segment == UINT32_MAX) f.first_segment = f.last_segment;
}

}  // namespace

uint32_t tap_mss(const Transport& transport) {
  const uint32_t mtu = transport.mtu ? transport.mtu : kEthernetMtu;
  return mtu - (transport.ipv6 ? 40 : 20) - 20;
}

void apply_packet_effects(const Scenario& sc, ReplayPlan& plan) {
  if (sc.transport.kind != Transport::Kind::Tap) return;
  const uint32_t mss = tap_mss(sc.transport);
  const PacketEffects& fx = sc.segmentation.effects;
  std::vector<PlannedSegment> segs = cut_to_mss(plan.segments, mss);
  const bool changed = segs.size() != plan.segments.size() || fx.any();
  if (!changed) return;
  if (!fx.gaps_us.empty()) apply_gaps(fx.gaps_us, segs);
  if (fx.overlap.every) segs = apply_overlap(fx, segs, mss);
  std::vector<Tx> late;
  std::vector<Tx> txs = apply_drop_and_duplicate(fx, segs, late);
  if (fx.reorder.every) apply_reorder(fx, txs);
  merge_late(late, txs);
  plan.segments.clear();
  for (const Tx& t : txs) plan.segments.push_back(t.seg);
  map_frames(plan);
}

std::string segment_flags_text(uint32_t flags) {
  std::string text;
  auto add = [&](uint32_t bit, const char* name) {
    if (!(flags & bit)) return;
    if (!text.empty()) text += ",";
    text += name;
  };
  add(kSegReordered, "reordered");
  add(kSegDuplicate, "duplicate");
  add(kSegOverlap, "overlap");
  add(kSegDropped, "dropped");
  add(kSegRetransmit, "retransmit");
  return text;
}

}  // namespace rcvq
