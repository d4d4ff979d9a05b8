#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "autolowat_abi.h"
#include "framing/framing.hpp"

struct btf;
struct autolowat;
struct autolowat_tcp_ops;
struct bpf_link;

namespace rcvq {

// A kfunc as the kernel's BTF declares it. A kfunc of the right name but another
// prototype is a different interface (an older or newer revision of the series), and
// calling it as ours would be refused by the verifier or worse.
struct KfuncProbe {
  bool present = false;
  std::string prototype;  // as declared, typedefs and qualifiers resolved: "int (struct sock *, int)"
  bool matches = false;   // it is the prototype our programs call
};

// What the running kernel offers of the two AutoLOWAT interfaces, read from its BTF.
// The sock_ops op and flag sit in an anonymous uapi enum that CO-RE cannot relocate,
// so their values are looked up here and handed to the BPF object as constants.
struct AutolowatKernelSupport {
  bool btf_loaded = false;
  std::optional<uint32_t> rcvq_cb_op;    // BPF_SOCK_OPS_RCVQ_CB
  std::optional<uint32_t> rcvq_cb_flag;  // BPF_SOCK_OPS_RCVQ_CB_FLAG
  KfuncProbe sockops_set_rcvlowat;       // bpf_sock_ops_tcp_set_rcvlowat
  bool tcp_ops_type = false;             // struct bpf_tcp_ops
  KfuncProbe tcp_ops_set_rcvlowat;       // bpf_tcp_ops_set_rcvlowat
  KfuncProbe tcp_ops_set_flags;          // bpf_tcp_ops_set_flags
  std::optional<uint32_t> tcp_ops_flag_rcvq;    // BPF_TCP_OPS_FLAG_RCVQ
  std::optional<uint32_t> tcp_ops_attach_type;  // enum bpf_attach_type BPF_CGROUP_TCP_SOCK_OPS

  // Empty when usable, else what is missing or declared otherwise.
  std::string sockops_missing() const;
  std::string tcp_ops_missing() const;
};

// The prototypes our programs call, as KfuncProbe::prototype spells them.
inline constexpr const char* kSockopsSetRcvlowatPrototype = "int (struct bpf_sock_ops_kern *, int)";
inline constexpr const char* kTcpOpsSetRcvlowatPrototype = "int (struct sock *, int)";
inline constexpr const char* kTcpOpsSetFlagsPrototype = "int (struct tcp_sock *, unsigned int, unsigned int)";

AutolowatKernelSupport probe_autolowat_btf(const struct btf* kernel_btf);
AutolowatKernelSupport probe_autolowat_kernel();  // /sys/kernel/btf/vmlinux

struct AutolowatBackendChoice {
  autolowat_backend backend = AUTOLOWAT_BACKEND_NONE;
  std::string reason;  // why none could be used (backend NONE)
};

// `requested`: auto | sockops | tcp-ops (receiver.autolowat_backend). auto prefers the
// struct_ops revision, the interface still under review upstream, when both exist.
AutolowatBackendChoice choose_autolowat_backend(const AutolowatKernelSupport& kernel,
                                                const std::string& requested);
std::string backend_name(autolowat_backend backend);

// The load-time constants of autolowat.bpf.c. A template because the same source is
// also built as autolowat_hooks_live (the host verifier test), a skeleton of its own
// type with the same .rodata.
template <class AutolowatSkeleton>
void set_autolowat_constants(AutolowatSkeleton& skel, const Framing& framing,
                             const AutolowatKernelSupport& kernel, autolowat_backend backend) {
  skel.rodata->framing_spec = framing.spec;
  skel.rodata->backend = backend;
  skel.rodata->rcvq_cb_op = kernel.rcvq_cb_op.value_or(0);
  skel.rodata->rcvq_cb_flag = kernel.rcvq_cb_flag.value_or(0);
  skel.rodata->tcp_ops_flag_rcvq = kernel.tcp_ops_flag_rcvq.value_or(0);
}

// Both BPF objects, configured for one framing and one backend, loaded (the struct_ops
// object only for the tcp-ops backend) and attached to one cgroup; everything is
// detached and closed on destruction.
class AutolowatPrograms {
 public:
  AutolowatPrograms(const Framing& framing, const AutolowatKernelSupport& kernel,
                    autolowat_backend backend);
  ~AutolowatPrograms();
  AutolowatPrograms(const AutolowatPrograms&) = delete;
  AutolowatPrograms& operator=(const AutolowatPrograms&) = delete;

  // Attaches the setsockopt enabler and the backend's hook to the cgroup. Throws
  // RunError naming the step that failed.
  void attach(int cgroup_fd);
  void detach();

  struct autolowat* enabler() const { return skel_; }
  // The per-socket record (tracker state + counters) of a socket, if the hook made one.
  bool socket_record(int fd, void* out, size_t size) const;
  uint64_t enable_requests() const;
  uint64_t enable_refusals() const;

 private:
  struct autolowat* skel_ = nullptr;
  struct autolowat_tcp_ops* tcp_ops_ = nullptr;
  autolowat_backend backend_;
  uint32_t tcp_ops_attach_type_ = 0;
  std::vector<struct bpf_link*> links_;
  int tcp_ops_link_fd_ = -1;
};

// The application side of enabling (autolowat_abi.h): the pseudo option, value 1, on
// a listener (arms the connections it will accept) or on an idle established socket.
// Returns 0 or the errno the kernel/program gave (EUCLEAN: data was already queued).
int request_autolowat(int fd);

// Why the hook is not on for a socket accepted from an armed listener, judged from its
// sk_storage record (nullptr: it has none); empty when it is on.
std::string inherited_hook_problem(const autolowat_counters* record);

}  // namespace rcvq
