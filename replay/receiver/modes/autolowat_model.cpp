// A prediction of the AutoLOWAT hook for kernels without it. The receiver runs as
// baseline does (rcvlowat 1, so sk_data_ready fires for every skb queued) while a
// tp_btf probe records how far the receive queue reached at each of those calls; at
// the end the same frame tracker the BPF programs run replays those arrivals with the
// kernel's wake rule and reports the wakeups and syscalls the hook would have cost.
//
// What the prediction cannot see (and the report must say): it assumes the reader is
// idle when each skb lands, so it never merges two skbs into one wakeup the way a busy
// reader does; it applies the rcvlowat cap of __tcp_set_rcvlowat but not tcp_poll's
// early wakeups under memory pressure or a closing receive window; CPU time and
// latency are not predicted (latency stays the measured rcvlowat-1 value).
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>

#include "plan/plan.hpp"
#include "probes/data_ready.hpp"
#include "receiver/autolowat_model.hpp"
#include "receiver/harness.hpp"
#include "receiver/modes/modes.hpp"
#include "results/run_result.hpp"

namespace rcvq {
namespace {

// __tcp_set_rcvlowat caps rcvlowat at half of tcp_rmem[2] when the application did not
// fix SO_RCVBUF (the harness does not).
uint32_t kernel_lowat_cap() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_rmem");
  uint64_t min = 0, def = 0, max = 0;
  if (!(in >> min >> def >> max) || max == 0) return 0x7fffffff;
  return uint32_t(std::min<uint64_t>(max / 2, 0x7fffffff));
}

class AutolowatModel : public ReceiverMode {
 public:
  explicit AutolowatModel(const Scenario& sc) : framing_(sc.framing), receiver_(sc.receiver) {}

  void prepare(int /*listen_fd*/) override { probe_ = std::make_unique<DataReadyProbe>(true); }

  void on_accept(Connection& conn) override {
    if (!probe_->available()) return;
    probe_->watch(conn.fd());
    cookies_.push_back(DataReadyProbe::socket_cookie(conn.fd()));
  }

  // The ring buffer is drained as the run goes so it never fills up.
  // Receiver threads share the mode: the drain runs under a lock.
  void after_read(Connection& /*conn*/) override {
    if (!probe_->available()) return;
    std::lock_guard<std::mutex> hold(collecting_);
    if (++reads_ % 256 == 0) collect();
  }

  void finish(const ReplayPlan& plan, ModeRepetition& rep) override {
    if (probe_->available()) collect();
    ft_spec spec = framing_.spec;
    spec.preamble = uint32_t(plan.preamble_bytes);
    std::vector<uint64_t> frame_ends;
    for (const PlannedFrame& f : plan.frames) frame_ends.push_back(f.end);

    ReaderModelOptions options;
    options.read_size = receiver_.read_size;
    options.edge_triggered = receiver_.edge_triggered;
    options.lowat_cap = kernel_lowat_cap();
    options.measure_after_frames = plan.warmup_frames;

    ReaderPrediction total;
    std::string basis;
    bool timeline_predicted = false;
    const size_t connections = std::max<size_t>(1, cookies_.size());
    for (size_t c = 0; c < connections; ++c) {
      options.timeline_frames = c == 0 ? kTimelineFrames : 0;
      std::vector<StreamArrival> arrivals;
      if (c < cookies_.size()) arrivals = observed_arrivals(cookies_[c]);
      // Observed arrivals carry CLOCK_MONOTONIC times, planned sends times since t0.
      const int64_t arrival_origin_ns = arrivals.empty() ? 0 : rep.timeline.origin_ns;
      if (arrivals.empty()) {
        // No kernel view: the planned sends, each taken as one skb.
        for (const PlannedSegment& s : plan.segments)
          arrivals.push_back({s.send_at_ns, s.offset + s.length, false});
        basis = probe_->available() ? "plan segments (the probe saw no arrivals)"
                                    : "plan segments (" + probe_->reason() + ")";
      } else if (basis.empty()) {
        basis = "sk_data_ready arrivals observed at rcvlowat 1";
      }
      ReaderPrediction p = predict_reader(spec, plan.stream, frame_ends, arrivals, options);
      if (c == 0) timeline_predicted = predict_timeline(p, arrival_origin_ns, rep);
      total.wakeups += p.wakeups;
      total.early_wakeups += p.early_wakeups;
      total.recv_calls += p.recv_calls;
      total.epoll_waits += p.epoll_waits;
      total.data_ready_calls += p.data_ready_calls;
      total.skbs += p.skbs;
      if (p.stop_reason && !total.stop_reason) {
        total.stop_reason = p.stop_reason;
        total.stopped_at_offset = p.stopped_at_offset;
      }
    }

    const ReceiverCounters& measured = rep.counters;
    rep.extra["measured_at_rcvlowat_1"] = {{"wakeups", measured.wakeups},
                                           {"early_wakeups", measured.early_wakeups},
                                           {"recv_calls", measured.recv_calls},
                                           {"epoll_waits", measured.epoll_waits},
                                           {"syscalls", measured.syscalls()}};
    rep.extra["model"] = {
        {"basis", basis},
        {"skbs", total.skbs},
        {"lowat_cap", options.lowat_cap},
        {"tracker_stopped", tracker_stop_reason_name(total.stop_reason)},
        {"stopped_at_offset", total.stopped_at_offset},
        {"latency", "measured at rcvlowat 1, not predicted"},
        {"assumes", "an idle reader at every skb: no merging of skbs into one wakeup"}};
    if (timeline_predicted) rep.extra["model"]["timeline"] = "predicted";

    ReceiverCounters predicted;
    predicted.wakeups = total.wakeups;
    predicted.early_wakeups = total.early_wakeups;
    predicted.events = total.wakeups;
    predicted.epoll_waits = total.epoll_waits;
    predicted.recv_calls = total.recv_calls;
    rep.counters = predicted;
    rep.kernel_data_ready = Measured::of(double(total.data_ready_calls));
    rep.kernel_wakeup_edges = Measured::missing(
        "predicted mode: the model assumes an idle reader at every skb, so it cannot tell which "
        "notifications a busy reader would have coalesced");
    rep.cpu_us = rep.cpu_rusage_us = rep.net_softirq_outside_receiver_us =
        Measured::missing("predicted mode: the model does not predict CPU time");
    rep.ctx_switches = Measured::missing("predicted mode: the model does not predict context switches");
    rep.predicted = true;
  }

 private:
  // The timeline of connection 0 then shows when the model's reader would wake and
  // complete each frame, not what the rcvlowat-1 receiver it watched did.
  static bool predict_timeline(const ReaderPrediction& p, int64_t arrival_origin_ns, ModeRepetition& rep) {
    FrameTimeline& t = rep.timeline;
    if (t.empty()) return false;
    t.wakeup_ns.clear();
    for (int64_t w : p.timeline_wakeup_ns) t.wakeup_ns.push_back(w - arrival_origin_ns);
    std::erase_if(t.frames, [&](const FrameTimeline::Frame& f) { return f.index >= p.frame_done_ns.size(); });
    for (FrameTimeline::Frame& f : t.frames) f.done_ns = p.frame_done_ns[f.index] - arrival_origin_ns;
    return true;
  }

  void collect() {
    for (const data_ready_event& e : probe_->drain_arrivals()) events_[e.cookie].push_back(e);
  }

  // Stream offsets from sequence numbers: before the first read the reader stands at
  // the stream's first byte, so the first event's copied_seq is offset 0.
  std::vector<StreamArrival> observed_arrivals(uint64_t cookie) const {
    std::vector<StreamArrival> out;
    auto it = events_.find(cookie);
    if (it == events_.end() || it->second.empty()) return out;
    const uint32_t base = it->second.front().copied_seq;
    uint64_t last = 0;
    for (const data_ready_event& e : it->second) {
      const uint64_t end = uint32_t(e.rcv_nxt - base);
      if (end < last) continue;  // cannot go back; only sequence wrap of >4 GB would
      last = end;
      out.push_back({int64_t(e.time_ns), end, false});
    }
    return out;
  }

  Framing framing_;
  Receiver receiver_;
  std::unique_ptr<DataReadyProbe> probe_;
  std::mutex collecting_;
  std::vector<uint64_t> cookies_;
  std::map<uint64_t, std::vector<data_ready_event>> events_;
  uint64_t reads_ = 0;
};

}  // namespace

ModeDefinition autolowat_model_mode() {
  return {"autolowat-model",
          "prediction: the AutoLOWAT frame tracker replayed over the skb arrivals seen at rcvlowat 1",
          [](const Scenario& sc, const HostProbe&) -> ModeSupport {
            if (sc.framing.needs_stream())
              return "the framing must be resolved against the stream before the model can run";
            return std::nullopt;
          },
          [](const Scenario& sc) { return std::make_unique<AutolowatModel>(sc); },
          /*needs_whole_plan=*/true};
}

}  // namespace rcvq
