// The kernel frames the stream: a sockmap stream parser (bpf/strparser.bpf.c) returns
// each frame's length from the scenario's framing, and the verdict passes whole frames
// to the socket, so the reader is woken once per complete frame without a syscall of
// its own.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/errors.hpp"
#include "frame_spec.h"
#include "plan/plan.hpp"
#include "probes/data_ready.hpp"
#include "receiver/modes/modes.hpp"
#include "results/run_result.hpp"
#include "strparser.skel.h"

namespace rcvq {
namespace {

struct SkeletonDeleter {
  void operator()(struct strparser* skel) const { strparser__destroy(skel); }
};

class Strparser : public ReceiverMode {
 public:
  explicit Strparser(const Framing& framing) : framing_(framing) {}

  // While a partial frame waits in the receive queue for the parser, tcp_poll reports
  // the socket readable but recvmsg returns EAGAIN: a level-triggered reader spins
  // until the frame completes (16-55 wakeups/frame measured on 6.18). A strparser
  // application has to be edge-triggered, so that is what this mode measures.
  bool edge_triggered(bool /*configured*/) const override { return true; }

  ~Strparser() override {
    // Closing the skeleton's fds frees the sockmap, which drops every psock and the
    // attached programs; detaching first makes the order explicit.
    if (attached_verdict_)
      bpf_prog_detach2(bpf_program__fd(skel_->progs.pass_frame), sockmap_fd(), BPF_SK_SKB_STREAM_VERDICT);
    if (attached_parser_)
      bpf_prog_detach2(bpf_program__fd(skel_->progs.parse_frame), sockmap_fd(), BPF_SK_SKB_STREAM_PARSER);
  }

  void prepare(int /*listen_fd*/) override {
    skel_.reset(strparser__open());
    if (!skel_) throw RunError(fmt::format("cannot open the strparser BPF object: {}", std::strerror(errno)));
    const ft_spec& spec = framing_.spec;
    std::memcpy(const_cast<ft_spec*>(&skel_->rodata->framing_spec), &spec, sizeof spec);
    if (int err = strparser__load(skel_.get()))
      throw RunError(fmt::format("the kernel refused the sk_skb stream parser/verdict programs: {}",
                                 std::strerror(-err)));
    attach(skel_->progs.parse_frame, BPF_SK_SKB_STREAM_PARSER, "stream_parser");
    attached_parser_ = true;
    attach(skel_->progs.pass_frame, BPF_SK_SKB_STREAM_VERDICT, "stream_verdict");
    attached_verdict_ = true;
  }

  void on_accept(Connection& conn) override {
    // The preamble entry must exist before the socket joins the sockmap: from then on
    // the parser may run for any arriving byte.
    if (framing_.spec.preamble) {
      const uint64_t cookie = DataReadyProbe::socket_cookie(conn.fd());
      const uint32_t length = framing_.spec.preamble;
      if (bpf_map_update_elem(bpf_map__fd(skel_->maps.pending_preamble), &cookie, &length, BPF_NOEXIST))
        throw_errno("strparser: registering the socket's preamble");
    }
    const uint32_t key = conn.index();
    const uint64_t fd = uint64_t(conn.fd());
    if (bpf_map_update_elem(sockmap_fd(), &key, &fd, BPF_NOEXIST))
      throw_errno(fmt::format("strparser: inserting connection {} into the sockmap", conn.index()));
  }

  void finish(const ReplayPlan& /*plan*/, ModeRepetition& rep) override {
    nlohmann::json stats = parser_stats();
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

 private:
  int sockmap_fd() const { return bpf_map__fd(skel_->maps.frame_sockets); }

  void attach(const struct bpf_program* prog, bpf_attach_type type, const char* what) {
    // libbpf 1.1 has no sockmap attach helper: the map is the attach target.
    if (bpf_prog_attach(bpf_program__fd(prog), sockmap_fd(), type, 0))
      throw_errno(fmt::format("strparser: attaching the {} program to the sockmap", what));
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

  const Framing framing_;
  std::unique_ptr<struct strparser, SkeletonDeleter> skel_;
  bool attached_parser_ = false, attached_verdict_ = false;
};

}  // namespace

ModeDefinition strparser_mode() {
  return {"strparser", "sockmap stream parser frames the stream in the kernel: woken once per frame",
          [](const Scenario&, const HostProbe& probe) -> ModeSupport {
            if (!probe.has(cap::kSockmapStrparser))
              return "sockmap stream parser unavailable: " + probe.detail(cap::kSockmapStrparser);
            return std::nullopt;
          },
          [](const Scenario& sc) { return std::make_unique<Strparser>(sc.framing); }};
}

}  // namespace rcvq
