#include "remote/protocol.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "common/clock.hpp"

namespace rcvq::remote {
namespace {

void set_nonblocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) throw_errno("fcntl O_NONBLOCK on the control channel");
}

int remaining_ms(int64_t deadline_ns) {
  const int64_t left = deadline_ns - monotonic_ns();
  return left <= 0 ? 0 : int(std::min<int64_t>(left / 1'000'000 + 1, 1 << 30));
}

// A write to a pipe whose reader is gone raises SIGPIPE, which would kill the process
// before EPIPE could be reported: blocked in this thread around the write, and a pending
// one taken back so nothing else sees it.
ssize_t write_without_sigpipe(int fd, const uint8_t* data, size_t len) {
  sigset_t pipe_only, previous;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &previous);
  const ssize_t n = write(fd, data, len);
  const int saved = errno;
  if (n < 0 && errno == EPIPE) {
    const timespec zero{0, 0};
    sigtimedwait(&pipe_only, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  errno = saved;
  return n;
}

constexpr std::string_view kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

json histogram_json(const Histogram& h) {
  const Histogram::Sparse s = h.sparse();
  json counts = json::array();
  for (const auto& [index, count] : s.counts) counts.push_back({index, count});
  return {{"counts", counts}, {"min", s.min}, {"max", s.max}};
}

Histogram histogram_from(const json& j) {
  Histogram::Sparse s;
  for (const json& pair : j.at("counts")) s.counts.emplace_back(pair.at(0).get<uint64_t>(), pair.at(1).get<uint64_t>());
  s.min = j.at("min").get<int64_t>();
  s.max = j.at("max").get<int64_t>();
  Histogram h;
  h.add_sparse(s);
  return h;
}

json measured_json(const Measured& m) {
  return m.value ? json{{"value", *m.value}} : json{{"reason", m.reason}};
}

Measured measured_from(const json& j) {
  if (j.contains("value")) return Measured::of(j["value"].get<double>());
  return Measured::missing(j.at("reason").get<std::string>());
}

}  // namespace

Channel::Channel(int read_fd, int write_fd, std::string peer) : in_(read_fd), out_(write_fd), peer_(std::move(peer)) {
  set_nonblocking(in_);
  if (out_ != in_) set_nonblocking(out_);
}

void Channel::send(const json& message, int timeout_ms) {
  const std::string body = message.dump();
  if (body.size() > kMaxMessageBytes)
    throw ChannelError(fmt::format("a {} message of {} bytes exceeds the protocol's {} bytes",
                                   message.value("type", "?"), body.size(), kMaxMessageBytes));
  std::string frame(4, '\0');
  const uint32_t n = uint32_t(body.size());
  for (int i = 0; i < 4; ++i) frame[size_t(i)] = char((n >> (24 - 8 * i)) & 0xff);
  frame += body;
  const int64_t deadline = monotonic_ns() + int64_t(timeout_ms) * 1'000'000;
  const auto* data = reinterpret_cast<const uint8_t*>(frame.data());
  size_t left = frame.size();
  while (left > 0) {
    const ssize_t w = write_without_sigpipe(out_, data, left);
    if (w > 0) {
      data += w;
      left -= size_t(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN)
      throw ChannelError(fmt::format("lost the control connection to {}: {}", peer_, std::strerror(errno)));
    pollfd pfd{out_, POLLOUT, 0};
    const int ready = poll(&pfd, 1, remaining_ms(deadline));
    if (ready < 0 && errno != EINTR) throw_errno("poll on the control channel");
    if (ready == 0)
      throw ChannelError(fmt::format("{} took no {} message within {} s", peer_, message.value("type", "?"),
                                     timeout_ms / 1000.0));
  }
}

bool Channel::read_exact(uint8_t* data, size_t len, int64_t deadline_ns, int timeout_ms, std::string_view step,
                         const std::vector<int>& wake_fds) {
  const size_t wanted = len;
  while (len > 0) {
    const ssize_t r = read(in_, data, len);
    if (r > 0) {
      data += r;
      len -= size_t(r);
      continue;
    }
    if (r == 0) throw ChannelError(fmt::format("{} closed the control connection while {}", peer_, step));
    if (errno == EINTR) continue;
    if (errno != EAGAIN)
      throw ChannelError(fmt::format("lost the control connection to {} while {}: {}", peer_, step, std::strerror(errno)));
    std::vector<pollfd> fds{{in_, POLLIN, 0}};
    for (int fd : wake_fds) fds.push_back({fd, POLLIN, 0});
    const int ready = poll(fds.data(), fds.size(), remaining_ms(deadline_ns));
    if (ready < 0 && errno != EINTR) throw_errno("poll on the control channel");
    if (ready == 0)
      throw ChannelError(fmt::format("no answer from {} within {:.1f} s while {}", peer_, timeout_ms / 1000.0, step));
    // Only before a message begins: a wake-up between its bytes would lose sync.
    if (fds[0].revents == 0 && ready > 0 && len == wanted) return false;
  }
  return true;
}

json Channel::receive(int timeout_ms, std::string_view step, std::vector<int> wake_fds) {
  const int64_t deadline = monotonic_ns() + int64_t(timeout_ms) * 1'000'000;
  std::array<uint8_t, 4> header{};
  if (!read_exact(header.data(), header.size(), deadline, timeout_ms, step, wake_fds)) return nullptr;
  const uint32_t n = uint32_t(header[0]) << 24 | uint32_t(header[1]) << 16 | uint32_t(header[2]) << 8 | header[3];
  if (n > kMaxMessageBytes)
    throw ChannelError(fmt::format("{} sent a message of {} bytes (at most {}): not the rcvqbench control protocol",
                                   peer_, n, kMaxMessageBytes));
  std::string body(n, '\0');
  read_exact(reinterpret_cast<uint8_t*>(body.data()), n, deadline, timeout_ms, step, {});
  json message = json::parse(body, nullptr, false);
  if (message.is_discarded() || !message.is_object() || !message.contains("type") || !message["type"].is_string())
    throw ChannelError(fmt::format("{} sent something that is not a control message while {}", peer_, step));
  return message;
}

bool Channel::readable(int timeout_ms, const std::vector<int>& wake_fds) {
  std::vector<pollfd> fds{{in_, POLLIN, 0}};
  for (int fd : wake_fds) fds.push_back({fd, POLLIN, 0});
  const int ready = poll(fds.data(), fds.size(), timeout_ms);
  if (ready < 0 && errno != EINTR) throw_errno("poll on the control channel");
  return ready > 0 && fds[0].revents != 0;
}

void keep_alive(int fd) {
  // Probes after 2 s of silence, 1 s apart, 5 unanswered: a dead peer in ~7 s.
  const int on = 1, idle = 2, interval = 1, count = 5;
  const unsigned user_timeout_ms = 10'000;  // unacknowledged data
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

json Channel::expect(std::string_view type, int timeout_ms, std::string_view step) {
  json message = receive(timeout_ms, step);
  const std::string got = message["type"].get<std::string>();
  if (got == "error") throw PeerError(message.value("message", "unspecified error"));
  if (got != type)
    throw ChannelError(fmt::format("{} sent '{}' while {} (expected '{}')", peer_, got, step, type));
  return message;
}

json error_message(const std::string& text) { return {{"type", "error"}, {"message", text}}; }

std::string base64_encode(const uint8_t* data, size_t len) {
  std::string out;
  out.reserve((len + 2) / 3 * 4);
  for (size_t i = 0; i < len; i += 3) {
    const uint32_t chunk = uint32_t(data[i]) << 16 | (i + 1 < len ? uint32_t(data[i + 1]) << 8 : 0) |
                           (i + 2 < len ? uint32_t(data[i + 2]) : 0);
    out += kBase64[(chunk >> 18) & 63];
    out += kBase64[(chunk >> 12) & 63];
    out += i + 1 < len ? kBase64[(chunk >> 6) & 63] : '=';
    out += i + 2 < len ? kBase64[chunk & 63] : '=';
  }
  return out;
}

std::vector<uint8_t> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) throw ChannelError("base64 text whose length is not a multiple of 4");
  std::vector<uint8_t> out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    uint32_t chunk = 0;
    int padding = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      size_t value = 0;
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        ++padding;
      } else if (padding > 0 || (value = kBase64.find(c)) == std::string_view::npos) {
        throw ChannelError(fmt::format("bad base64 at character {}", i + k));
      }
      chunk = chunk << 6 | uint32_t(value);
    }
    out.push_back(uint8_t(chunk >> 16));
    if (padding < 2) out.push_back(uint8_t(chunk >> 8));
    if (padding < 1) out.push_back(uint8_t(chunk));
  }
  return out;
}

json plan_to_json(const ReplayPlan& plan) {
  json segments = json::array(), frames = json::array();
  for (const PlannedSegment& s : plan.segments) segments.push_back({s.offset, s.length, s.send_at_ns, s.flags});
  for (const PlannedFrame& f : plan.frames)
    frames.push_back({f.start, f.end, f.first_segment, f.last_segment, f.due_ns});
  return {{"stream", base64_encode(plan.stream.data(), plan.stream.size())},
          {"segments", segments},
          {"frames", frames},
          {"preamble_bytes", plan.preamble_bytes},
          {"warmup_frames", plan.warmup_frames},
          {"source_description", plan.source_description}};
}

ReplayPlan plan_from_json(const json& j) {
  ReplayPlan plan;
  plan.stream = base64_decode(j.at("stream").get<std::string>());
  for (const json& s : j.at("segments"))
    plan.segments.push_back({s.at(0).get<uint64_t>(), s.at(1).get<uint32_t>(), s.at(2).get<int64_t>(),
                             s.at(3).get<uint32_t>()});
  for (const json& f : j.at("frames"))
    plan.frames.push_back({f.at(0).get<uint64_t>(), f.at(1).get<uint64_t>(), f.at(2).get<uint32_t>(),
                           f.at(3).get<uint32_t>(), f.at(4).get<int64_t>()});
  plan.preamble_bytes = j.at("preamble_bytes").get<uint64_t>();
  plan.warmup_frames = j.at("warmup_frames").get<uint64_t>();
  plan.source_description = j.at("source_description").get<std::string>();
  for (const PlannedSegment& s : plan.segments)
    if (s.offset + s.length > plan.stream.size()) throw ChannelError("a planned segment lies outside the stream");
  for (const PlannedFrame& f : plan.frames)
    if (f.end > plan.stream.size() || f.last_segment >= plan.segments.size())
      throw ChannelError("a planned frame lies outside the stream or its segments");
  return plan;
}

json receiver_scenario_to_json(const Scenario& sc) {
  const Framing& fr = sc.framing;
  json fields = json::array();
  for (uint32_t i = 0; i < fr.spec.nfields && i < FT_MAX_FIELDS; ++i)
    fields.push_back({fr.spec.fields[i].offset, fr.spec.fields[i].width, fr.spec.fields[i].big_endian});
  const Receiver& r = sc.receiver;
  return {{"name", sc.name},
          {"framing",
           {{"name", fr.name},
            {"preamble", base64_encode(fr.preamble.data(), fr.preamble.size())},
            {"preamble_rule", int(fr.preamble_rule)},
            {"prefix_size", fr.spec.prefix_size},
            {"includes_prefix", fr.spec.includes_prefix},
            {"adjustment", fr.spec.adjustment},
            {"fields", fields}}},
          {"receiver",
           {{"modes", r.modes},
            {"connections", r.connections},
            {"edge_triggered", r.edge_triggered},
            {"read_size", r.read_size},
            {"autolowat_backend", r.autolowat_backend},
            {"realtime_priority", r.realtime_priority},
            {"cpu", r.cpu.cpus}}},
          {"run", {{"timeout_s", sc.run.timeout_s}, {"repetitions", sc.run.repetitions}}},
          {"device", sc.transport.remote_device}};
}

Scenario receiver_scenario_from_json(const json& j) {
  static const std::vector<std::string> known = {"name", "framing", "receiver", "run", "device"};
  for (const auto& [key, value] : j.items())
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw InputError(fmt::format(
          "the agent takes no scenario field '{}': it runs only the receiver modes and reads no file on its host "
          "(captures and sources are replayed by the client)",
          key));
  Scenario sc;
  sc.name = j.at("name").get<std::string>();
  sc.path = "remote:" + sc.name;
  const json& f = j.at("framing");
  const std::string name = f.at("name").get<std::string>();
  // A preset brings its prefix rules (valid_prefix); the resolved fields are the client's.
  if (name != "custom") sc.framing = framing_preset(name);
  sc.framing.name = name;
  sc.framing.preamble = base64_decode(f.at("preamble").get<std::string>());
  sc.framing.preamble_rule = PreambleRule(f.at("preamble_rule").get<int>());
  ft_spec& spec = sc.framing.spec;
  spec = {};
  spec.preamble = uint32_t(sc.framing.preamble.size());
  spec.prefix_size = f.at("prefix_size").get<uint32_t>();
  spec.includes_prefix = f.at("includes_prefix").get<uint32_t>();
  spec.adjustment = f.at("adjustment").get<int64_t>();
  const json& fields = f.at("fields");
  if (fields.size() > FT_MAX_FIELDS) throw InputError("framing has more length fields than supported");
  spec.nfields = uint32_t(fields.size());
  for (size_t i = 0; i < fields.size(); ++i)
    spec.fields[i] = {fields[i].at(0).get<uint32_t>(), fields[i].at(1).get<uint32_t>(), fields[i].at(2).get<uint32_t>()};
  validate_framing(sc.framing, "framing from the client");
  const json& r = j.at("receiver");
  sc.receiver.modes = r.at("modes").get<std::vector<std::string>>();
  sc.receiver.connections = r.at("connections").get<uint32_t>();
  sc.receiver.edge_triggered = r.at("edge_triggered").get<bool>();
  sc.receiver.read_size = r.at("read_size").get<uint32_t>();
  sc.receiver.autolowat_backend = r.at("autolowat_backend").get<std::string>();
  sc.receiver.realtime_priority = r.at("realtime_priority").get<uint32_t>();
  sc.receiver.cpu.cpus = r.at("cpu").get<std::vector<uint32_t>>();
  sc.run.timeout_s = j.at("run").at("timeout_s").get<double>();
  sc.run.repetitions = j.at("run").at("repetitions").get<uint32_t>();
  sc.transport.kind = Transport::Kind::Remote;
  sc.transport.remote_device = j.at("device").get<std::string>();
  return sc;
}

json repetition_to_json(const ModeRepetition& rep) {
  const ReceiverCounters& c = rep.counters;
  json timeline = nullptr;
  if (!rep.timeline.empty()) {
    json frames = json::array(), segments = json::array();
    for (const auto& f : rep.timeline.frames) frames.push_back({f.index, f.due_ns, f.done_ns});
    for (const auto& s : rep.timeline.segments) segments.push_back({s.frame, s.bytes, s.planned_ns, s.sent_ns});
    timeline = {{"frames", frames}, {"segments", segments}, {"wakeup_ns", rep.timeline.wakeup_ns}};
  }
  return {{"frames", rep.frames},
          {"bytes", rep.bytes},
          {"counters",
           {c.epoll_waits, c.wakeups, c.early_wakeups, c.events, c.recv_calls, c.setsockopt_calls, c.other_syscalls}},
          {"kernel_data_ready", measured_json(rep.kernel_data_ready)},
          {"kernel_wakeup_edges", measured_json(rep.kernel_wakeup_edges)},
          {"segments_achieved", measured_json(rep.segments_achieved)},
          {"segments_planned", rep.segments_planned},
          {"cpu_us", measured_json(rep.cpu_us)},
          {"cpu_rusage_us", measured_json(rep.cpu_rusage_us)},
          {"net_softirq_outside_receiver_us", measured_json(rep.net_softirq_outside_receiver_us)},
          {"ctx_switches", measured_json(rep.ctx_switches)},
          {"latency", histogram_json(rep.latency)},
          {"latency_from_send", histogram_json(rep.latency_from_send)},
          {"send_lateness", histogram_json(rep.send_lateness)},
          {"latency_unavailable", rep.latency_unavailable},
          {"frame_period_ns", rep.frame_period_ns},
          {"wall_ns", rep.wall_ns},
          {"integrity_ok", rep.integrity_ok},
          {"integrity_detail", rep.integrity_detail},
          {"predicted", rep.predicted},
          {"extra", rep.extra},
          {"timeline", timeline}};
}

ModeRepetition repetition_from_json(const json& j) {
  ModeRepetition rep;
  rep.frames = j.at("frames").get<uint64_t>();
  rep.bytes = j.at("bytes").get<uint64_t>();
  const json& c = j.at("counters");
  ReceiverCounters& k = rep.counters;
  for (auto [i, field] : {std::pair{0, &k.epoll_waits}, {1, &k.wakeups}, {2, &k.early_wakeups}, {3, &k.events},
                          {4, &k.recv_calls}, {5, &k.setsockopt_calls}, {6, &k.other_syscalls}})
    *field = c.at(size_t(i)).get<uint64_t>();
  rep.kernel_data_ready = measured_from(j.at("kernel_data_ready"));
  rep.kernel_wakeup_edges = measured_from(j.at("kernel_wakeup_edges"));
  rep.segments_achieved = measured_from(j.at("segments_achieved"));
  rep.segments_planned = j.at("segments_planned").get<double>();
  rep.cpu_us = measured_from(j.at("cpu_us"));
  rep.cpu_rusage_us = measured_from(j.at("cpu_rusage_us"));
  rep.net_softirq_outside_receiver_us = measured_from(j.at("net_softirq_outside_receiver_us"));
  rep.ctx_switches = measured_from(j.at("ctx_switches"));
  rep.latency = histogram_from(j.at("latency"));
  rep.latency_from_send = histogram_from(j.at("latency_from_send"));
  rep.send_lateness = histogram_from(j.at("send_lateness"));
  rep.latency_unavailable = j.at("latency_unavailable").get<std::string>();
  rep.frame_period_ns = j.at("frame_period_ns").get<int64_t>();
  rep.wall_ns = j.at("wall_ns").get<int64_t>();
  rep.integrity_ok = j.at("integrity_ok").get<bool>();
  rep.integrity_detail = j.at("integrity_detail").get<std::string>();
  rep.predicted = j.at("predicted").get<bool>();
  rep.extra = j.at("extra");
  if (const json& t = j.at("timeline"); t.is_object()) {
    for (const json& f : t.at("frames"))
      rep.timeline.frames.push_back({f.at(0).get<uint64_t>(), f.at(1).get<int64_t>(), f.at(2).get<int64_t>()});
    for (const json& s : t.at("segments"))
      rep.timeline.segments.push_back(
          {s.at(0).get<uint64_t>(), s.at(1).get<uint32_t>(), s.at(2).get<int64_t>(), s.at(3).get<int64_t>()});
    rep.timeline.wakeup_ns = t.at("wakeup_ns").get<std::vector<int64_t>>();
  }
  return rep;
}

ClockSample best_clock_sample(const std::vector<ClockSample>& samples) {
  if (samples.empty()) throw RunError("no clock samples");
  return *std::min_element(samples.begin(), samples.end(),
                           [](const ClockSample& a, const ClockSample& b) { return a.round_trip_ns() < b.round_trip_ns(); });
}

std::string latency_unavailable_reason(int64_t uncertainty_ns, int64_t median_latency_ns) {
  if (uncertainty_ns <= median_latency_ns) return "";
  return fmt::format(
      "sender and receiver are two hosts whose clock offset is known only to +-{:.1f} us (half the smallest "
      "control round trip), more than the median latency of {:.1f} us: no latency can be told apart from the "
      "clock error",
      double(uncertainty_ns) / 1e3, double(median_latency_ns) / 1e3);
}

}  // namespace rcvq::remote
