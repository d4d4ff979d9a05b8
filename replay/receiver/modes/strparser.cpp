// The kernel frames the stream: a sockmap stream parser (bpf/strparser.bpf.c) returns
// each frame's length from the scenario's framing, and the verdict passes whole frames
// to the socket, so the reader is woken once per complete frame without a syscall of
// its own.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "common/clock.hpp"
#include "common/errors.hpp"
#include "common/fd.hpp"
#include "frame_spec.h"
#include "plan/plan.hpp"
#include "probes/data_ready.hpp"
#include "probes/thread_usage.hpp"
#include "receiver/modes/modes.hpp"
#include "results/run_result.hpp"
#include "strparser.skel.h"
#include "transport/netns.hpp"

namespace rcvq {
namespace {

struct SkeletonDeleter {
  void operator()(struct strparser* skel) const { strparser__destroy(skel); }
};

// The loaded parser and verdict attached to their sockmap; sockets added to it are
// framed by the kernel until the map is gone.
class FramingSockmap {
 public:
  explicit FramingSockmap(const ft_spec& spec) {
    skel_.reset(strparser__open());
    if (!skel_) throw RunError(fmt::format("cannot open the strparser BPF object: {}", std::strerror(errno)));
    std::memcpy(const_cast<ft_spec*>(&skel_->rodata->framing_spec), &spec, sizeof spec);
    if (int err = strparser__load(skel_.get()))
      throw RunError(fmt::format("the kernel refused the sk_skb stream parser/verdict programs: {}",
                                 std::strerror(-err)));
    attach(skel_->progs.parse_frame, BPF_SK_SKB_STREAM_PARSER, "stream_parser");
    attached_parser_ = true;
    attach(skel_->progs.pass_frame, BPF_SK_SKB_STREAM_VERDICT, "stream_verdict");
    attached_verdict_ = true;
  }
  ~FramingSockmap() {
    // Closing the skeleton's fds frees the sockmap, which drops every psock and the
    // attached programs; detaching first makes the order explicit.
    if (attached_verdict_)
      bpf_prog_detach2(bpf_program__fd(skel_->progs.pass_frame), sockmap_fd(), BPF_SK_SKB_STREAM_VERDICT);
    if (attached_parser_)
      bpf_prog_detach2(bpf_program__fd(skel_->progs.parse_frame), sockmap_fd(), BPF_SK_SKB_STREAM_PARSER);
  }
  FramingSockmap(const FramingSockmap&) = delete;
  FramingSockmap& operator=(const FramingSockmap&) = delete;

  // `preamble` unframed bytes come first on this socket.
  void add(int fd, uint32_t key, uint32_t preamble) {
    // The preamble entry must exist before the socket joins the sockmap: from then on
    // the parser may run for any arriving byte.
    if (preamble) {
      const uint64_t cookie = DataReadyProbe::socket_cookie(fd);
      if (bpf_map_update_elem(bpf_map__fd(skel_->maps.pending_preamble), &cookie, &preamble, BPF_NOEXIST))
        throw_errno("strparser: registering the socket's preamble");
    }
    const uint64_t value = uint64_t(fd);
    if (bpf_map_update_elem(sockmap_fd(), &key, &value, BPF_NOEXIST))
      throw_errno(fmt::format("strparser: inserting connection {} into the sockmap", key));
  }

  nlohmann::json parser_stats() const {
    static constexpr const char* kNames[] = {"frames", "preambles", "need_more_data", "malformed",
                                             "messages_inside_an_skb"};
    nlohmann::json stats = nlohmann::json::object();
    const int fd = bpf_map__fd(skel_->maps.parser_stats);
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return stats;
    std::vector<uint64_t> per_cpu(size_t(cpus), 0);
    for (uint32_t key = 0; key < std::size(kNames); ++key) {
      if (bpf_map_lookup_elem(fd, &key, per_cpu.data())) continue;
      uint64_t total = 0;
      for (uint64_t v : per_cpu) total += v;
      stats[kNames[key]] = total;
    }
    return stats;
  }

 private:
  int sockmap_fd() const { return bpf_map__fd(skel_->maps.frame_sockets); }

  void attach(const struct bpf_program* prog, bpf_attach_type type, const char* what) {
    // libbpf 1.1 has no sockmap attach helper: the map is the attach target.
    if (bpf_prog_attach(bpf_program__fd(prog), sockmap_fd(), type, 0))
      throw_errno(fmt::format("strparser: attaching the {} program to the sockmap", what));
  }

  std::unique_ptr<struct strparser, SkeletonDeleter> skel_;
  bool attached_parser_ = false, attached_verdict_ = false;
};

class Strparser : public ReceiverMode {
 public:
  explicit Strparser(const Framing& framing) : framing_(framing) {}

  // While a partial frame waits in the receive queue for the parser, tcp_poll reports
  // the socket readable but recvmsg returns EAGAIN: a level-triggered reader spins
  // until the frame completes (16-55 wakeups/frame measured on 6.18). A strparser
  // application has to be edge-triggered, so that is what this mode measures.
  bool edge_triggered(bool /*configured*/) const override { return true; }

  void prepare(int /*listen_fd*/) override { sockmap_.emplace(framing_.spec); }

  void on_accept(Connection& conn) override { sockmap_->add(conn.fd(), conn.index(), framing_.spec.preamble); }

  void finish(const ReplayPlan& /*plan*/, ModeRepetition& rep) override {
    nlohmann::json stats = sockmap_->parser_stats();
    // The psock takes over sk_data_ready: the tracepoint now fires when a segment
    // reaches the parser and again whenever recvmsg finds a partial frame still queued,
    // while the reader is woken from the psock only when a whole frame is queued. The
    // counts are kept for the record, but they are not the reader's notifications.
    if (rep.kernel_data_ready.value) stats["sk_data_ready_calls"] = *rep.kernel_data_ready.value;
    if (rep.kernel_wakeup_edges.value) stats["sk_data_ready_wakeup_edges"] = *rep.kernel_wakeup_edges.value;
    rep.kernel_data_ready = rep.kernel_wakeup_edges = Measured::missing(
        "with a sockmap stream parser sk_data_ready is the psock's hook, called per arriving segment "
        "and per recvmsg that finds a partial frame, not per reader notification (raw counts in "
        "extra.strparser.sk_data_ready_calls and sk_data_ready_wakeup_edges)");
    stats["epoll"] =
        "edge-triggered whatever receiver.epoll says: with a partial frame queued the socket polls "
        "readable while recvmsg returns EAGAIN, so a level-triggered reader spins until the frame completes";
    rep.extra["strparser"] = std::move(stats);
  }

  std::string stall_detail() const override {
    return sockmap_ ? "stream parser " + sockmap_->parser_stats().dump() : std::string();
  }

 private:
  const Framing framing_;
  std::optional<FramingSockmap> sockmap_;
};

// Waits until `done()` holds, for at most `limit_ms`; returns whether it did.
template <typename Condition>
bool wait_for(Condition done, int limit_ms) {
  const int64_t until = monotonic_ns() + int64_t(limit_ms) * 1'000'000;
  while (!done()) {
    if (monotonic_ns() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Since 6.14 (and the stable backports 6.12.17, 6.6.80, 6.1.130) tcp_bpf_strp_read_sock()
// holds back copied_seq only for the frames its own call passed to the socket: a frame
// passed by an earlier call and still unread counts as read, and once the reader has
// read it copied_seq lies that far past rcv_nxt. tcp_data_ready() then sees nothing new
// until more bytes than that arrive, so the parser is not run and the stream's last
// frames never reach the reader. This reproduces it on loopback in a namespace of its
// own: two frames parsed before the reader reads, then a third of the first's size.
std::optional<std::string> pass_accounting_defect() {
  static const std::optional<std::string> found = []() -> std::optional<std::string> {
    constexpr int kLimitMs = 2000;
    constexpr uint32_t kFrameBytes = 100;
    try {
      const Framing framing = framing_preset("kafka");
      Netns ns = Netns::create();
      NetnsGuard inside(ns);
      Fd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof addr;
      if (listener.get() < 0 || bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
          listen(listener.get(), 1) != 0 || getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw_errno("listener");
      Fd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (client.get() < 0 || connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw_errno("connect");
      Fd reader(accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (reader.get() < 0) throw_errno("accept");
      FramingSockmap sockmap(framing.spec);
      sockmap.add(reader.get(), 0, 0);

      std::vector<uint8_t> frame(kFrameBytes, 0x5a), buffer(4 * kFrameBytes);
      framing.encode_prefix(frame.data(), 0, kFrameBytes - framing.prefix_size());
      uint64_t sent = 0;
      auto send_frame = [&] {
        if (send(client.get(), frame.data(), frame.size(), 0) != ssize_t(frame.size())) throw_errno("send");
        sent += frame.size();
      };
      auto readable_bytes = [&] {
        return recv(reader.get(), buffer.data(), buffer.size(), MSG_PEEK | MSG_DONTWAIT);
      };
      send_frame();
      if (!wait_for([&] { return readable_bytes() == ssize_t(sent); }, kLimitMs))
        return "could not check for the copied_seq defect: the first frame never became readable";
      send_frame();
      if (!wait_for([&] { return readable_bytes() == ssize_t(sent); }, kLimitMs))
        return "could not check for the copied_seq defect: the second frame never became readable";
      if (recv(reader.get(), buffer.data(), buffer.size(), MSG_DONTWAIT) != ssize_t(sent)) throw_errno("recv");
      send_frame();
      // TCP counts the bytes in the softirq that also runs the parser, so once they are
      // counted a sound kernel has the frame ready to read.
      if (!wait_for([&] { return tcp_bytes_received(reader.get()) == int64_t(sent); }, kLimitMs))
        return "could not check for the copied_seq defect: TCP never received the third frame";
      pollfd pfd{reader.get(), POLLIN, 0};
      if (poll(&pfd, 1, 100) == 1 && readable_bytes() == ssize_t(kFrameBytes)) return std::nullopt;
      return "this kernel has the tcp_bpf_strp_read_sock() copied_seq defect (since 6.14; 6.12.17, 6.6.80, "
             "6.1.130): a frame parsed while an earlier one is still unread is counted as read, so after the "
             "reader catches up the socket's next bytes do not reach the parser and a stream's last frames can "
             "stall (checked at start: of three frames on loopback the third never became readable)";
    } catch (const std::exception& e) {
      return fmt::format("could not check for the copied_seq defect: {}", e.what());
    }
  }();
  return found;
}

}  // namespace

ModeDefinition strparser_mode() {
  return {.name = "strparser",
          .summary = "sockmap stream parser frames the stream in the kernel: woken once per frame",
          .unsupported = [](const Scenario&, const HostProbe& probe) -> ModeSupport {
            if (!probe.has(cap::kSockmapStrparser))
              return "sockmap stream parser unavailable: " + probe.detail(cap::kSockmapStrparser);
            return std::nullopt;
          },
          .make = [](const Scenario& sc) { return std::make_unique<Strparser>(sc.framing); },
          .kernel_caveat = pass_accounting_defect};
}

}  // namespace rcvq
