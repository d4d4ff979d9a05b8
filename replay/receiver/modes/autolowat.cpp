// The AutoLOWAT hook for real: BPF programs follow the frames in the kernel and set
// rcvlowat on enqueue, so the reader wakes once per readable frame. The backend is the
// interface the running kernel has (v3 sock_ops or the bpf_tcp_ops revision); on a
// kernel with neither, the mode is `unsupported` with what its BTF lacks.
//
// Enabling, sock_ops backend: the listener is armed with the pseudo option before any
// connection, and each accepted socket switches the hook on at passive-established,
// before its first byte (TFO SYN data included) is queued; the mode then checks every
// accepted socket's record. Enabling after accept instead would race with data already
// queued (EUCLEAN). The struct_ops backend has no passive-established program, so it
// still enables per socket right after accept.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "common/errors.hpp"
#include "receiver/autolowat_kernel.hpp"
#include "receiver/modes/modes.hpp"
#include "results/run_result.hpp"

#define FT_LOAD_BYTES(reader, offset, dst, len) (-1) /* only the state layout is used */
#include "frame_tracker.h"

namespace rcvq {
namespace {

// The per-socket record autolowat.bpf.c keeps in sk_storage.
struct SocketRecord {
  ft_state ft;
  autolowat_counters counters;
};

// Cgroup programs see a socket through the cgroup it was created in, and accepted
// sockets inherit the listener's. The harness creates the listener on the thread that
// then calls prepare(), so that thread's cgroup is the listener's. The programs attach
// there with BPF_F_ALLOW_MULTI and only act on our pseudo option and on sockets that
// asked for AutoLOWAT, so other sockets in the cgroup are untouched.
std::string own_cgroup_path() {
  const std::string mount = cgroup2_mount_point();
  if (mount.empty()) throw RunError("AutoLOWAT needs cgroup v2, and /proc/mounts lists no cgroup2 mount");
  std::ifstream in("/proc/thread-self/cgroup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) return mount + line.substr(3);
  throw RunError("/proc/thread-self/cgroup has no cgroup v2 entry (0::)");
}

class Autolowat : public ReceiverMode {
 public:
  Autolowat(const Scenario& sc, autolowat_backend backend)
      : framing_(sc.framing), backend_(backend), kernel_(probe_autolowat_kernel()) {}
  ~Autolowat() override {
    programs_.reset();
    if (cgroup_fd_ >= 0) close(cgroup_fd_);
  }

  // Attached before the listener's setsockopt, or the option would reach the kernel.
  void prepare(int listen_fd) override {
    programs_ = std::make_unique<AutolowatPrograms>(framing_, kernel_, backend_);
    const std::string cgroup = own_cgroup_path();
    cgroup_fd_ = open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgroup_fd_ < 0) throw_errno("open cgroup " + cgroup);
    programs_->attach(cgroup_fd_);
    if (backend_ != AUTOLOWAT_BACKEND_SOCKOPS) return;
    if (const int err = request_autolowat(listen_fd))
      throw RunError(fmt::format("arming the listener for AutoLOWAT (sockops backend) failed: {}",
                                 std::strerror(err)));
  }

  void on_accept(Connection& conn) override {
    if (backend_ == AUTOLOWAT_BACKEND_SOCKOPS)
      check_inherited(conn);
    else
      enable_now(conn);
    fds_.push_back(conn.fd());
  }

  void finish(const ReplayPlan& /*plan*/, ModeRepetition& rep) override {
    nlohmann::json sockets = nlohmann::json::array();
    for (int fd : fds_) {
      SocketRecord r{};
      if (!programs_->socket_record(fd, &r, sizeof r)) continue;
      sockets.push_back({{"skb_events", r.counters.skb_events},
                         {"read_events", r.counters.read_events},
                         {"lowat_sets", r.counters.lowat_sets},
                         {"descriptors", r.counters.descriptors},
                         {"enabled", r.counters.enabled != 0},
                         {"disabled", r.counters.disabled != 0},
                         {"stop_reason", r.ft.stop_reason},
                         {"last_error", r.counters.last_error}});
    }
    rep.extra["autolowat"] = {{"backend", backend_name(backend_)}, {"sockets", sockets}};
  }

 private:
  // The listener's armed record reached the socket and the kernel took the flag.
  void check_inherited(const Connection& conn) const {
    SocketRecord r{};
    const bool found = programs_->socket_record(conn.fd(), &r, sizeof r);
    const std::string problem = inherited_hook_problem(found ? &r.counters : nullptr);
    if (!problem.empty())
      throw RunError(fmt::format("connection {}: AutoLOWAT is not on: {}", conn.index(), problem));
  }

  // What an application does at a quiet point (after accept, or after an HTTP Upgrade).
  void enable_now(const Connection& conn) const {
    const int err = request_autolowat(conn.fd());
    if (err == EUCLEAN)
      throw RunError(fmt::format("connection {}: the kernel refused AutoLOWAT with EUCLEAN: data was "
                                 "already queued when the option was set",
                                 conn.index()));
    if (err != 0)
      throw RunError(fmt::format("connection {}: enabling AutoLOWAT ({} backend) failed: {}", conn.index(),
                                 backend_name(backend_), std::strerror(err)));
  }

  Framing framing_;
  autolowat_backend backend_;
  AutolowatKernelSupport kernel_;
  std::unique_ptr<AutolowatPrograms> programs_;
  int cgroup_fd_ = -1;
  std::vector<int> fds_;
};

}  // namespace

ModeDefinition autolowat_mode() {
  return {"autolowat", "the AutoLOWAT BPF hook sets rcvlowat per frame in the kernel",
          [](const Scenario& sc, const HostProbe&) -> ModeSupport {
            const AutolowatBackendChoice choice =
                choose_autolowat_backend(probe_autolowat_kernel(), sc.receiver.autolowat_backend);
            if (choice.backend == AUTOLOWAT_BACKEND_NONE) return choice.reason;
            if (sc.framing.needs_stream())
              return "the framing must be resolved against the stream before the BPF program gets it";
            return std::nullopt;
          },
          [](const Scenario& sc) -> std::unique_ptr<ReceiverMode> {
            const AutolowatBackendChoice choice =
                choose_autolowat_backend(probe_autolowat_kernel(), sc.receiver.autolowat_backend);
            if (choice.backend == AUTOLOWAT_BACKEND_NONE) throw RunError(choice.reason);
            return std::make_unique<Autolowat>(sc, choice.backend);
          }};
}

}  // namespace rcvq
