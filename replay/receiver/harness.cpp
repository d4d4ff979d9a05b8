#include "receiver/harness.hpp"

#include <poll.h>
#include <linux/sock_diag.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clock.hpp"
#include "common/errors.hpp"
#include "probes/host_steal.hpp"
#include "probes/thread_usage.hpp"

namespace rcvq {
namespace {
constexpr uint32_t kStopEvent = UINT32_MAX;
constexpr int kEpollTimeoutMs = 50;
constexpr int kAcceptTimeoutMs = 5000;
constexpr uint64_t kWakeupsPerStallCheck = 64;
// The runner connects and accepts in batches no larger than this, so the kernel's cap
// (net.core.somaxconn, 4096 by default) never drops a SYN however many connections run.
constexpr int kListenBacklog = 1024;
}  // namespace

ReceiverHarness::ReceiverHarness(const Scenario& scenario, const Network& network, ReceiverMode& mode,
                                 DataReadyProbe& data_ready)
    : scenario_(scenario), mode_(mode), data_ready_(data_ready) {
  const Endpoint ep = network.listen_endpoint();
  {
    NetnsGuard inside(network.receiver_netns());
    listen_fd_ = socket(ep.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw_errno("listen socket");
  }
  try {
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listen_fd_, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) != 0)
      throw_errno("bind " + ep.text);
    if (listen(listen_fd_, kListenBacklog) != 0) throw_errno("listen");
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw_errno("epoll_create1");
    mode_.prepare(listen_fd_);
  } catch (...) {
    // No destructor runs for a half-built harness: a kept listener would hold the port
    // and fail every later repetition with EADDRINUSE.
    close_sockets();
    throw;
  }
}

ReceiverHarness::ReceiverHarness(const Scenario& scenario, const ReceiverHarness& listener, ReceiverMode& mode,
                                 DataReadyProbe& data_ready)
    : scenario_(scenario), mode_(mode), data_ready_(data_ready), listen_fd_(listener.listen_fd_),
      owns_listener_(false) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw_errno("epoll_create1");
}

ReceiverHarness::~ReceiverHarness() {
  for (const Connection& c : connections_)
    if (c.fd() >= 0) data_ready_.unwatch(c.fd());
  close_sockets();
}

void ReceiverHarness::close_sockets() {
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (listen_fd_ >= 0 && owns_listener_) close(listen_fd_);
  epoll_fd_ = listen_fd_ = -1;
}

void ReceiverHarness::accept_connections(uint32_t count, uint32_t first_index) {
  for (uint32_t i = 0; i < count; ++i) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (poll(&pfd, 1, kAcceptTimeoutMs) != 1)
      throw RunError(fmt::format("connection {} never reached the listener", first_index + i + 1));
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) throw_errno("accept");
    const uint32_t slot = uint32_t(connections_.size());
    Connection& conn = connections_.emplace_back(fd, scenario_.framing, counters_, first_index + i);
    mode_.on_accept(conn);
    data_ready_.watch(fd);
    epoll_event ev{};
    ev.events = EPOLLIN | (mode_.edge_triggered(scenario_.receiver.edge_triggered) ? uint32_t(EPOLLET) : 0u);
    ev.data.u32 = slot;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) throw_errno("epoll_ctl ADD");
  }
}

void ReceiverHarness::FrameTally::add(uint64_t before, uint64_t after) {
  frames += after - before;
  if (before < warmup_frames && after >= warmup_frames) ++connections_warmed_up;
  if (before < plan_frames && after >= plan_frames) ++connections_complete;
}

ReceiverHarness::Snapshot ReceiverHarness::snapshot() const {
  Snapshot s;
  s.counters = counters_;
  const ThreadUsage usage = ThreadUsage::now();
  s.rusage_cpu_us = usage.cpu_us;
  s.context_switches = usage.context_switches;
  if (task_clock_) s.task_clock_ns = task_clock_->ns();
  if (softirq_) s.net_softirq_outside_receiver_ns = softirq_->outside_receiver_ns();
  s.host_steal_us = host_steal_us();
  for (const Connection& c : connections_) {
    s.data_ready += data_ready_.counts_before_read(c.fd(), c.scanner().offset());
    const int64_t segs = tcp_data_segments_in(c.fd());
    s.data_segments = (segs < 0 || s.data_segments < 0) ? -1 : s.data_segments + segs;
  }
  s.time_ns = monotonic_ns();
  return s;
}

void ReceiverHarness::receive(const ReplayPlan& plan, int64_t deadline_ns, int stop_fd) {
  epoll_event stop_ev{};
  stop_ev.events = EPOLLIN;
  stop_ev.data.u32 = kStopEvent;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd, &stop_ev) != 0) throw_errno("epoll_ctl ADD stop");

  const int64_t timeout_ns = int64_t(scenario_.run.timeout_s * 1e9);
  const uint64_t total = plan.frame_count();
  for (Connection& c : connections_) c.expect_frames(total);
  // A streamed plan's frame times would grow with it: only the timeline's are kept.
  if (plan.streamed)
    for (Connection& c : connections_) c.keep_done_times(plan.warmup_frames, &c == &connections_[0] ? kTimelineFrames : 0);
  tally_ = {.plan_frames = total, .warmup_frames = plan.warmup_frames};
  const size_t connection_count = connections_.size();
  task_clock_ = TaskClock::of_calling_thread();
  if (softirq_) softirq_->set_receiver_thread(gettid());
  const bool edge = mode_.edge_triggered(scenario_.receiver.edge_triggered);
  std::vector<uint8_t> buffer(scenario_.receiver.read_size);
  std::vector<epoll_event> events(connections_.size() + 1);
  bool measuring = plan.warmup_frames == 0;
  if (measuring) measure_start_ = snapshot();

  // Per wakeup the loop does O(1) work besides its reads: running tallies, no pass
  // over the connections.
  uint64_t frames_seen = 0;
  const uint64_t timeline_end = plan.warmup_frames + kTimelineFrames;
  size_t open_connections = connection_count;
  int64_t latest_done_ns = 0;  // the last frame completion any connection saw
  uint64_t wakeups_without_frames = 0;
  while (tally_.connections_complete < connection_count && open_connections > 0) {
    const int n = epoll_wait(epoll_fd_, events.data(), int(events.size()), kEpollTimeoutMs);
    ++counters_.epoll_waits;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("epoll_wait");
    }
    if (n == 0) {
      if (monotonic_ns() > deadline_ns) {
        timed_out_ = true;
        break;
      }
      continue;
    }
    ++counters_.wakeups;
    if (measuring && connections_[0].frames_completed() < timeline_end) wakeup_ns_.push_back(monotonic_ns());
    counters_.events += uint64_t(n);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u32 == kStopEvent) {
        stopped_ = true;
        break;
      }
      Connection& conn = connections_[events[i].data.u32];
      const uint64_t frames_before = conn.frames_completed();
      ssize_t got;
      do {
        got = conn.receive(buffer.data(), buffer.size());
        if (got > 0) mode_.after_read(conn);
      } while (edge && got > 0);
      tally_.add(frames_before, conn.frames_completed());
      if (conn.frames_completed() != frames_before) latest_done_ns = std::max(latest_done_ns, conn.last_done_ns());
      if (conn.malformed())
        throw RunError(fmt::format("connection {}: the received stream has a malformed length prefix at "
                                   "offset {}",
                                   conn.index(), conn.scanner().malformed_at()));
      if (got == 0) {
        ++counters_.other_syscalls;
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.fd(), nullptr);
        --open_connections;
      }
    }
    if (stopped_) break;
    if (tally_.frames == frames_seen) {
      ++counters_.early_wakeups;
      // Most of baseline's wakeups complete no frame: a clock read for each would load
      // its CPU figure more than the other modes'. Every 64th checks the stall; an
      // idle socket times out in epoll_wait.
      if (++wakeups_without_frames % kWakeupsPerStallCheck == 0 && monotonic_ns() > deadline_ns) {
        timed_out_ = true;
        break;
      }
    } else {  // frames still arriving: a long bulk transfer is not a stall
      deadline_ns = std::max(deadline_ns, latest_done_ns + timeout_ns);
    }
    frames_seen = tally_.frames;
    if (frames_progress_) frames_progress_->store(tally_.frames / connection_count, std::memory_order_relaxed);
    if (!measuring && tally_.connections_warmed_up == connection_count) {
      measure_start_ = snapshot();
      measuring = true;
    }
  }
  measure_end_ = snapshot();
  if (!measuring) measure_start_ = measure_end_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, stop_fd, nullptr);
}

std::string ReceiverHarness::stall_report() const {
  constexpr size_t kConnectionsShown = 4;
  std::string report;
  size_t stalled = 0;
  std::vector<uint8_t> peek(scenario_.receiver.read_size);
  for (const Connection& c : connections_) {
    if (c.has_every_frame() || c.fd() < 0) continue;
    if (++stalled > kConnectionsShown) continue;
    const int64_t received = tcp_bytes_received(c.fd());
    report += fmt::format("; connection {}: {} frames, {} bytes read, {}", c.index(), c.frames_completed(),
                          c.scanner().offset(),
                          received < 0 ? std::string("TCP's received byte count unknown")
                                       : fmt::format("{} bytes received by TCP", received));
    // Data that can be read now though no event reported it means a lost notification;
    // none means the kernel holds the bytes back from the reader.
    pollfd pfd{c.fd(), POLLIN, 0};
    const bool readable = poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
    const ssize_t peeked = recv(c.fd(), peek.data(), peek.size(), MSG_PEEK | MSG_DONTWAIT);
    report += fmt::format(", polls {}, {}", readable ? "readable" : "not readable",
                          peeked >= 0 ? fmt::format("{} bytes readable", peeked)
                                      : fmt::format("a peek fails: {}", std::strerror(errno)));
    // Receive memory over its limit stops the kernel queueing more for the reader.
    uint32_t meminfo[SK_MEMINFO_VARS] = {};
    socklen_t len = sizeof meminfo;
    if (getsockopt(c.fd(), SOL_SOCKET, SO_MEMINFO, meminfo, &len) == 0)
      report += fmt::format(", receive memory {} of {} bytes", meminfo[SK_MEMINFO_RMEM_ALLOC],
                            meminfo[SK_MEMINFO_RCVBUF]);
  }
  if (stalled > kConnectionsShown) report += fmt::format("; {} more connections short", stalled - kConnectionsShown);
  const std::string detail = mode_.stall_detail();
  if (!detail.empty()) report += "; " + detail;
  return report;
}

void ReceiverHarness::abandon_connections() {
  for (Connection& c : connections_) {
    if (c.fd() < 0) continue;
    data_ready_.unwatch(c.fd());
    c.reset();
  }
}

void ReceiverHarness::record_latency_as_frames_complete(int64_t t0_ns, uint64_t warmup_frames,
                                                        const std::function<FrameSendRing*(uint32_t)>& ring_of) {
  for (Connection& c : connections_)
    c.record_latency({.ring = ring_of(c.index()),
                      .t0_ns = t0_ns,
                      .warmup_frames = warmup_frames,
                      .latency = &streamed_latency_,
                      .latency_from_send = &streamed_latency_from_send_});
}

FrameTimeline ReceiverHarness::timeline(const ReplayPlan& plan, int64_t t0_ns,
                                        const std::vector<int64_t>& sent_ns) const {
  FrameTimeline t;
  t.origin_ns = t0_ns;
  if (connections_.empty()) return t;
  const Connection& shown = connections_[0];
  const auto& done = shown.frame_done_ns();
  // A streamed plan holds only the timeline's frames, segments and send times.
  const PlanExcerpt* excerpt = plan.streamed ? &plan.streamed->timeline : nullptr;
  auto frame_at = [&](uint64_t f) -> const PlannedFrame& {
    return excerpt ? excerpt->frames[f - excerpt->first_frame] : plan.frames[f];
  };
  auto segment_at = [&](uint64_t s) -> const PlannedSegment& {
    return excerpt ? excerpt->segments[s - excerpt->first_segment] : plan.segments[s];
  };
  const uint64_t sent_base = excerpt ? excerpt->first_segment : 0;
  const uint64_t first = plan.warmup_frames;
  const uint64_t end = std::min<uint64_t>(first + kTimelineFrames, shown.kept_from() + done.size());
  for (uint64_t f = first; f < end; ++f) {
    const PlannedFrame& frame = frame_at(f);
    t.frames.push_back({f, frame.due_ns, done[f - shown.kept_from()] - t0_ns});
    for (uint32_t s = frame.first_segment; s <= frame.last_segment; ++s) {
      // A segment shared by two frames belongs to the one its last byte completes.
      if (s == frame.first_segment && f > first && frame_at(f - 1).last_segment == s) continue;
      const PlannedSegment& seg = segment_at(s);
      const uint64_t i = s - sent_base;
      const int64_t sent = i < sent_ns.size() && sent_ns[i] != 0 ? sent_ns[i] - t0_ns : 0;
      t.segments.push_back({f, seg.length, seg.send_at_ns, sent});
    }
  }
  for (int64_t w : wakeup_ns_) t.wakeup_ns.push_back(w - t0_ns);
  return t;
}

namespace {

// How far behind its plan the sender handed over each segment of a held plan's measured
// frames (the time is taken before the first connection's send, see Replayer::replay).
// A streamed plan's sender records it as it goes.
void record_send_lateness(const ReplayPlan& plan, int64_t t0_ns, const std::vector<int64_t>& sent_ns,
                          ModeRepetition& rep) {
  if (plan.warmup_frames >= plan.frames.size()) return;
  for (size_t s = plan.frames[plan.warmup_frames].first_segment; s < plan.segments.size() && s < sent_ns.size(); ++s)
    if (sent_ns[s] != 0) rep.send_lateness.record(sent_ns[s] - (t0_ns + plan.segments[s].send_at_ns));
}

}  // namespace

ModeRepetition ReceiverHarness::measurements(
    const ReplayPlan& plan, int64_t t0_ns, const std::vector<int64_t>& sent_ns,
    const std::function<const std::vector<int64_t>&(uint32_t)>& sent_by) const {
  ModeRepetition rep;
  const uint64_t warmup = plan.warmup_frames;
  std::vector<std::string> problems;
  const uint64_t frames = plan.frame_count();
  for (const Connection& c : connections_) {
    const uint64_t completed = c.frames_completed();
    if (plan.streamed) {
      if (completed > warmup) rep.bytes += c.completed_through() - plan.streamed->timeline.frames[0].start;
    } else {
      const auto& done = c.frame_done_ns();
      const std::vector<int64_t>& sent = sent_by ? sent_by(c.index()) : sent_ns;
      for (uint64_t f = warmup; f < done.size(); ++f) {
        const PlannedFrame& frame = plan.frames[f];
        rep.latency.record(done[f] - (t0_ns + frame.due_ns));
        if (frame.last_segment < sent.size() && sent[frame.last_segment] != 0)
          rep.latency_from_send.record(done[f] - sent[frame.last_segment]);
        rep.bytes += frame.end - frame.start;
      }
    }
    rep.frames += completed > warmup ? completed - warmup : 0;
    if (completed != frames)
      problems.push_back(fmt::format("connection {} received {} of {} frames", c.index(), completed, frames));
    else if (c.hash() != plan.stream_hash())
      problems.push_back(fmt::format("connection {}: received bytes differ from the sent stream", c.index()));
  }
  if (plan.streamed) {
    rep.latency = streamed_latency_;
    rep.latency_from_send = streamed_latency_from_send_;
  } else {
    record_send_lateness(plan, t0_ns, sent_ns, rep);
  }
  rep.frame_period_ns = plan.measured_frame_period_ns();
  rep.integrity_ok = problems.empty() && !connections_.empty();
  rep.integrity_detail = problems.empty() ? "stream hash matches on every connection"
                                          : fmt::format("{}", fmt::join(problems, "; "));
  rep.counters = measure_end_.counters - measure_start_.counters;
  rep.cpu_us = task_clock_ && task_clock_->available()
                   ? Measured::of(double(measure_end_.task_clock_ns - measure_start_.task_clock_ns) / 1e3)
                   : Measured::missing(task_clock_ ? "receiver thread: " + task_clock_->reason()
                                                   : "the receiver never ran");
  rep.cpu_rusage_us = Measured::of(double(measure_end_.rusage_cpu_us - measure_start_.rusage_cpu_us));
  rep.ctx_switches = Measured::of(double(measure_end_.context_switches - measure_start_.context_switches));
  rep.net_softirq_outside_receiver_us =
      softirq_ && softirq_->available()
          ? Measured::of(double(measure_end_.net_softirq_outside_receiver_ns -
                                measure_start_.net_softirq_outside_receiver_ns) /
                         1e3)
          : Measured::missing(softirq_ ? softirq_->reason() : "no softirq probe was given to this run");
  const DataReadyCounts data_ready = measure_end_.data_ready - measure_start_.data_ready;
  if (data_ready_.available()) {
    rep.kernel_data_ready = Measured::of(double(data_ready.notifications));
    rep.kernel_wakeup_edges = Measured::of(double(data_ready.wakeup_edges));
  } else {
    rep.kernel_data_ready = rep.kernel_wakeup_edges = Measured::missing(data_ready_.reason());
  }
  rep.segments_achieved =
      measure_end_.data_segments >= 0
          ? Measured::of(double(measure_end_.data_segments - measure_start_.data_segments))
          : Measured::missing("TCP_INFO has no tcpi_data_segs_in on this kernel");
  rep.segments_planned = plan.planned_segments_per_frame();
  rep.wall_ns = measure_end_.time_ns - measure_start_.time_ns;
  if (measure_start_.host_steal_us >= 0 && measure_end_.host_steal_us >= 0 && rep.wall_ns > 0)
    rep.extra["host_steal_percent"] = 100.0 * double(measure_end_.host_steal_us - measure_start_.host_steal_us) /
                                      (double(rep.wall_ns) / 1e3 * double(sysconf(_SC_NPROCESSORS_ONLN)));
  rep.timeline = timeline(plan, t0_ns, sent_ns);
  return rep;
}

}  // namespace rcvq
