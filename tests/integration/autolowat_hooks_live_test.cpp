// bpf/autolowat.bpf.c built with its hook paths forced live (autolowat_hooks_live.bpf.o,
// see bpf/CMakeLists.txt) on this host, whose kernel has no AutoLOWAT hook:
//
// - AutolowatVerifier: the sock_ops and setsockopt programs, offered to this kernel's
//   verifier for every framing preset with the load-time constants a hook kernel would
//   give. In the receiver's own object those paths are dead code here, so this is the
//   only check they get before a hook kernel runs them.
// - AutolowatEnabling: the enabling paths run for real. Only the kfunc and the payload
//   read, both on the RCVQ path that never fires here, are stand-ins; arming a
//   listener, the children inheriting its record, passive-established switching the
//   callback flag on, and the setsockopt program's checks are the code a hook kernel
//   runs. A flag this kernel knows (BPF_SOCK_OPS_STATE_CB_FLAG) stands in for
//   BPF_SOCK_OPS_RCVQ_CB_FLAG where the kernel must accept it.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "framing/framing.hpp"
#include "integration/scoped_fd.hpp"
#include "receiver/autolowat_kernel.hpp"
#include "scratch_cgroup.hpp"
#include "transport/netns.hpp"

#define FT_LOAD_BYTES(reader, offset, dst, len) (-1) /* only the state layout is used */
#include "frame_tracker.h"
#include "autolowat.skel.h"
#include "autolowat_hooks_live.skel.h"

namespace rcvq {
namespace {

// The v3 series' flag value; this host's kernel does not know it.
constexpr uint32_t kRcvqCbFlag = 0x80;
// A callback flag this host's kernel accepts, standing in for kRcvqCbFlag.
constexpr uint32_t kStandInCbFlag = 0x4;  // BPF_SOCK_OPS_STATE_CB_FLAG
// An op number that exists (unused by the test kernel's 6.12 base, where the series
// gives it to BPF_SOCK_OPS_RCVQ_CB) and that never fires on these sockets here.
constexpr uint32_t kRcvqCbOp = 16;

// What the receiver would read from a hook kernel's BTF.
AutolowatKernelSupport hook_kernel(uint32_t cb_flag) {
  AutolowatKernelSupport k;
  k.btf_loaded = true;
  k.rcvq_cb_op = kRcvqCbOp;
  k.rcvq_cb_flag = cb_flag;
  k.sockops_set_rcvlowat = {true, kSockopsSetRcvlowatPrototype, true};
  return k;
}

// ---- AutolowatVerifier ----------------------------------------------------------

struct VerifierVerdict {
  int err = 0;
  std::string log;  // the verifier's error (if any) and statistics
  uint64_t processed_insns() const {
    std::smatch m;
    return std::regex_search(log, m, std::regex("processed (\\d+) insns")) ? std::stoull(m[1]) : 0;
  }
};

// Loads one program of the object alone, so that every program's own verdict shows.
template <class Skeleton>
VerifierVerdict verify_alone(Skeleton* (*open)(), void (*destroy)(Skeleton*), const Framing& framing,
                             const char* program) {
  Skeleton* skel = open();
  if (!skel) return {-errno, "cannot open the object"};
  set_autolowat_constants(*skel, framing, hook_kernel(kRcvqCbFlag), AUTOLOWAT_BACKEND_SOCKOPS);
  std::vector<char> log(1 << 20, '\0');
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    const bool chosen = std::strcmp(bpf_program__name(prog), program) == 0;
    bpf_program__set_autoload(prog, chosen);
    if (!chosen) continue;
    bpf_program__set_log_buf(prog, log.data(), log.size());
    bpf_program__set_log_level(prog, 4);  // BPF_LOG_STATS: errors and totals, no trace
  }
  const int err = bpf_object__load(skel->obj);
  destroy(skel);
  return {err, log.data()};
}

void expect_accepted_for_every_preset(const char* program) {
  for (const std::string& preset : framing_preset_names()) {
    SCOPED_TRACE("framing preset " + preset);
    const Framing framing = framing_preset(preset);
    const VerifierVerdict live =
        verify_alone(autolowat_hooks_live__open, autolowat_hooks_live__destroy, framing, program);
    EXPECT_EQ(live.err, 0) << program << " refused by the verifier:\n" << live.log;
    // The receiver's object with the same constants: on this kernel its hook paths are
    // dead, so if the verifier walked no more of the live build, nothing was checked.
    const VerifierVerdict dead = verify_alone(autolowat__open, autolowat__destroy, framing, program);
    ASSERT_EQ(dead.err, 0) << dead.log;
    EXPECT_GT(live.processed_insns(), dead.processed_insns())
        << "live:\n" << live.log << "\ndead:\n" << dead.log;
  }
}

TEST(AutolowatVerifier, SockopsProgramWithHookPathsLiveIsAcceptedForEveryPreset) {
  expect_accepted_for_every_preset("autolowat_sockops");
}

TEST(AutolowatVerifier, SetsockoptProgramWithHookPathsLiveIsAcceptedForEveryPreset) {
  expect_accepted_for_every_preset("autolowat_enable");
}

// ---- AutolowatEnabling ----------------------------------------------------------

// The per-socket record the programs keep (the receiver's SocketRecord).
struct SocketRecord {
  ft_state ft;
  autolowat_counters counters;
};

// The hook-live programs attached to a scratch cgroup.
class StandInHook {
 public:
  StandInHook(const ScratchCgroup& cgroup, uint32_t cb_flag, const Framing& framing) {
    skel_ = autolowat_hooks_live__open();
    if (!skel_) throw RunError("cannot open autolowat_hooks_live");
    set_autolowat_constants(*skel_, framing, hook_kernel(cb_flag), AUTOLOWAT_BACKEND_SOCKOPS);
    if (autolowat_hooks_live__load(skel_) != 0) throw RunError("the verifier refused autolowat_hooks_live");
    for (struct bpf_program* prog : {skel_->progs.autolowat_enable, skel_->progs.autolowat_sockops}) {
      struct bpf_link* link = bpf_program__attach_cgroup(prog, cgroup.fd());
      if (!link) throw RunError(std::string("cannot attach ") + bpf_program__name(prog));
      links_.push_back(link);
    }
  }
  ~StandInHook() {
    for (struct bpf_link* link : links_) bpf_link__destroy(link);
    autolowat_hooks_live__destroy(skel_);
  }
  StandInHook(const StandInHook&) = delete;
  StandInHook& operator=(const StandInHook&) = delete;

  std::optional<SocketRecord> record(int fd) const {
    SocketRecord r{};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.autolowat_state), &fd, &r) != 0) return std::nullopt;
    return r;
  }
  uint64_t refusals() const { return skel_->bss->enable_refusals; }

 private:
  struct autolowat_hooks_live* skel_ = nullptr;
  std::vector<struct bpf_link*> links_;
};

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

Fd tcp_socket() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno("socket");
  return Fd(fd);
}

struct Listener {
  Fd fd;
  uint16_t port = 0;
};

Listener listener() {
  Listener l{tcp_socket()};
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (bind(l.fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw_errno("bind");
  if (listen(l.fd.get(), 16) != 0) throw_errno("listen");
  getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  l.port = ntohs(a.sin_port);
  return l;
}

Fd connected_client(uint16_t port) {
  Fd fd = tcp_socket();
  const sockaddr_in a = loopback(port);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) throw_errno("connect");
  return fd;
}

Fd accepted(const Listener& l) {
  const int fd = accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) throw_errno("accept");
  return Fd(fd);
}

// rcv_nxt, read through TCP repair mode; with nothing read yet it is also copied_seq
// at the time the last byte arrived.
uint32_t receive_next_seq(int fd) {
  int on = 1, queue = TCP_RECV_QUEUE, off = 0;
  uint32_t seq = 0;
  socklen_t len = sizeof seq;
  if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) != 0) throw_errno("TCP_REPAIR on");
  if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof queue) != 0) throw_errno("TCP_REPAIR_QUEUE");
  if (getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, &len) != 0) throw_errno("TCP_QUEUE_SEQ");
  if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof off) != 0) throw_errno("TCP_REPAIR off");
  return seq;
}

int set_pseudo_option(int fd, const void* value, socklen_t len) {
  return setsockopt(fd, int(AUTOLOWAT_SOL_BPF), int(AUTOLOWAT_OPTNAME), value, len) == 0 ? 0 : errno;
}

void drain(int fd, size_t bytes) {
  std::vector<char> buf(bytes);
  size_t got = 0;
  while (got < bytes) {
    const ssize_t n = recv(fd, buf.data() + got, bytes - got, 0);
    if (n <= 0) throw_errno("recv");
    got += size_t(n);
  }
}

// The framing's preamble shows that tracking starts at the socket's own copied_seq.
Framing kafka_after_preamble(uint32_t preamble) {
  Framing f = framing_preset("kafka");
  f.spec.preamble = preamble;
  return f;
}

// Only the listener is created in the cgroup: accepted sockets are the listener's.
TEST(AutolowatEnabling, ArmedListenerSwitchesTheHookOnInEveryAcceptedSocket) {
  ScratchCgroup cgroup;
  if (cgroup.fd() < 0) GTEST_SKIP() << "no cgroup2 mount in /proc/mounts";
  StandInHook hook(cgroup, kStandInCbFlag, kafka_after_preamble(24));
  Listener l = [&] {
    InsideCgroup inside(cgroup);
    return listener();
  }();
  ASSERT_EQ(request_autolowat(l.fd.get()), 0);
  const std::optional<SocketRecord> armed = hook.record(l.fd.get());
  ASSERT_TRUE(armed);
  EXPECT_EQ(armed->counters.armed, 1u);
  EXPECT_EQ(armed->counters.enabled, 0u);

  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("connection " + std::to_string(i));
    Fd client = connected_client(l.port);
    Fd child = accepted(l);
    const std::optional<SocketRecord> r = hook.record(child.get());
    EXPECT_EQ(inherited_hook_problem(r ? &r->counters : nullptr), "");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->counters.armed, 0u);
    EXPECT_EQ(r->counters.enabled, 1u);
    EXPECT_EQ(r->ft.stop_reason, uint32_t(FT_RUNNING));
    EXPECT_EQ(r->ft.desc_seq, receive_next_seq(child.get()) + 24) << "tracking starts at the child's copied_seq";
  }
  EXPECT_EQ(hook.refusals(), 0u);
}

// TFO: passive-established runs before tcp_fastopen_add_skb queues the SYN's data, so
// tracking starts at the first byte of the stream, not after the SYN data.
TEST(AutolowatEnabling, FastOpenChildStartsTrackingBeforeItsSynDataIsQueued) {
  ScratchCgroup cgroup;
  if (cgroup.fd() < 0) GTEST_SKIP() << "no cgroup2 mount in /proc/mounts";
  StandInHook hook(cgroup, kStandInCbFlag, kafka_after_preamble(0));
  Netns ns = Netns::create();
  ns.run({"ip", "link", "set", "lo", "up"});
  NetnsGuard in_ns(ns);
  {
    // Client and server, no cookie, no TCP_FASTOPEN option on the listener.
    std::ofstream sysctl("/proc/sys/net/ipv4/tcp_fastopen");
    sysctl << 0x607;
  }
  Listener l = [&] {
    InsideCgroup inside(cgroup);
    return listener();
  }();
  ASSERT_EQ(request_autolowat(l.fd.get()), 0);

  const std::string syn_data(100, 'x');
  Fd client = tcp_socket();
  const sockaddr_in a = loopback(l.port);
  ASSERT_EQ(sendto(client.get(), syn_data.data(), syn_data.size(), MSG_FASTOPEN,
                   reinterpret_cast<const sockaddr*>(&a), sizeof a),
            ssize_t(syn_data.size()))
      << std::strerror(errno);
  Fd child = accepted(l);
  tcp_info info{};
  socklen_t len = sizeof info;
  ASSERT_EQ(getsockopt(child.get(), IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  ASSERT_TRUE(info.tcpi_options & TCPI_OPT_SYN_DATA) << "the data did not ride in the SYN";

  const std::optional<SocketRecord> r = hook.record(child.get());
  EXPECT_EQ(inherited_hook_problem(r ? &r->counters : nullptr), "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ft.desc_seq, receive_next_seq(child.get()) - syn_data.size());
}

// The selftest's way: the option on an established socket at a quiet point.
TEST(AutolowatEnabling, EstablishedSocketEnablesInPlaceOtherStatesAndValuesAreRefused) {
  ScratchCgroup cgroup;
  if (cgroup.fd() < 0) GTEST_SKIP() << "no cgroup2 mount in /proc/mounts";
  StandInHook hook(cgroup, kStandInCbFlag, kafka_after_preamble(0));
  std::optional<Listener> l;
  std::optional<Fd> unconnected;
  {
    InsideCgroup inside(cgroup);
    l.emplace(listener());
    unconnected.emplace(tcp_socket());
  }
  EXPECT_EQ(request_autolowat(unconnected->get()), EINVAL);
  const int zero = 0, two = 2;
  const short short_one = 1;
  EXPECT_EQ(set_pseudo_option(unconnected->get(), &zero, sizeof zero), 0) << "0 is a no-op";
  EXPECT_FALSE(hook.record(unconnected->get())) << "a no-op creates no record";
  EXPECT_EQ(set_pseudo_option(unconnected->get(), &two, sizeof two), EINVAL);
  EXPECT_EQ(set_pseudo_option(unconnected->get(), &short_one, sizeof short_one), EINVAL);

  // The listener is not armed: the accepted socket starts without a record.
  Fd client = connected_client(l->port);
  Fd child = accepted(*l);
  EXPECT_FALSE(hook.record(child.get()));
  ASSERT_EQ(request_autolowat(child.get()), 0);
  std::optional<SocketRecord> r = hook.record(child.get());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->counters.enabled, 1u);
  EXPECT_EQ(r->ft.desc_seq, receive_next_seq(child.get()));

  // Enabling again restarts the same record at the new quiet point.
  ASSERT_EQ(send(client.get(), "0123456789", 10, 0), 10);
  drain(child.get(), 10);
  ASSERT_EQ(request_autolowat(child.get()), 0);
  r = hook.record(child.get());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->counters.enabled, 1u);
  EXPECT_EQ(r->ft.desc_seq, receive_next_seq(child.get()));

  // Past ESTABLISHED (the peer closed: CLOSE_WAIT) there is no quiet point to start from.
  shutdown(client.get(), SHUT_WR);
  pollfd pfd{child.get(), POLLRDHUP, 0};
  ASSERT_EQ(poll(&pfd, 1, 2000), 1);
  EXPECT_EQ(request_autolowat(child.get()), EINVAL);
  EXPECT_EQ(hook.refusals(), 4u);
}

// The real flag value, unknown to this kernel: it refuses it the way a hook kernel
// refuses a queue that is not empty, an MPTCP subflow or a sockmap socket.
TEST(AutolowatEnabling, RefusedCallbackFlagLeavesTheHookOffAndSaysWhy) {
  ScratchCgroup cgroup;
  if (cgroup.fd() < 0) GTEST_SKIP() << "no cgroup2 mount in /proc/mounts";
  StandInHook hook(cgroup, kRcvqCbFlag, kafka_after_preamble(0));
  Listener l = [&] {
    InsideCgroup inside(cgroup);
    return listener();
  }();
  ASSERT_EQ(request_autolowat(l.fd.get()), 0) << "arming asks nothing of the kernel";
  Fd client = connected_client(l.port);
  Fd child = accepted(l);
  std::optional<SocketRecord> r = hook.record(child.get());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->counters.enabled, 0u);
  EXPECT_EQ(r->counters.last_error, uint32_t(EOPNOTSUPP));
  EXPECT_NE(inherited_hook_problem(&r->counters).find("refused the RCVQ callback flag"), std::string::npos)
      << inherited_hook_problem(&r->counters);

  // The established path hands the kernel's errno to the caller.
  EXPECT_EQ(request_autolowat(child.get()), EINVAL);
  r = hook.record(child.get());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->counters.enabled, 0u);
  EXPECT_EQ(r->counters.last_error, uint32_t(EINVAL));
  EXPECT_EQ(hook.refusals(), 1u);
}

}  // namespace
}  // namespace rcvq
