#include "receiver/autolowat_kernel.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/errors.hpp"
#include "autolowat.skel.h"
#include "autolowat_tcp_ops.skel.h"

namespace rcvq {
namespace {

std::optional<uint32_t> enum_value(const struct btf* btf, const char* name) {
  for (uint32_t id = 1; id < btf__type_cnt(btf); ++id) {
    const btf_type* t = btf__type_by_id(btf, id);
    if (btf_is_enum(t)) {
      const struct btf_enum* v = btf_enum(t);
      for (int i = 0; i < btf_vlen(t); ++i)
        if (std::strcmp(btf__name_by_offset(btf, v[i].name_off), name) == 0) return uint32_t(v[i].val);
    } else if (btf_is_enum64(t)) {
      const struct btf_enum64* v = btf_enum64(t);
      for (int i = 0; i < btf_vlen(t); ++i)
        if (std::strcmp(btf__name_by_offset(btf, v[i].name_off), name) == 0)
          return uint32_t(btf_enum64_value(&v[i]));
    }
  }
  return std::nullopt;
}

bool has(const struct btf* btf, const char* name, int kind) {
  return btf__find_by_name_kind(btf, name, kind) > 0;
}

// A type as C spells it, seen through typedefs and qualifiers, which do not change
// what a kfunc takes: "struct sock *", "unsigned int" (for u32).
std::string type_text(const struct btf* btf, uint32_t id) {
  const int resolved = btf__resolve_type(btf, id);
  if (resolved <= 0) return "void";
  const btf_type* t = btf__type_by_id(btf, uint32_t(resolved));
  const std::string name = btf__name_by_offset(btf, t->name_off);
  if (btf_is_ptr(t)) return type_text(btf, t->type) + " *";
  if (btf_is_struct(t)) return "struct " + name;
  if (btf_is_union(t)) return "union " + name;
  if (btf_is_any_enum(t)) return "enum " + name;
  if (btf_is_func_proto(t)) return "function";
  return name;
}

KfuncProbe probe_kfunc(const struct btf* btf, const char* name, const char* expected_prototype) {
  KfuncProbe k;
  const int func = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC);
  if (func <= 0) return k;
  k.present = true;
  const btf_type* proto = btf__type_by_id(btf, btf__type_by_id(btf, uint32_t(func))->type);
  if (!proto || !btf_is_func_proto(proto)) {
    k.prototype = "not a function prototype";
    return k;
  }
  std::string params;
  const btf_param* p = btf_params(proto);
  for (int i = 0; i < btf_vlen(proto); ++i)
    params += (i ? ", " : "") + (p[i].type == 0 ? std::string("...") : type_text(btf, p[i].type));
  k.prototype = type_text(btf, proto->type) + " (" + params + ")";
  k.matches = k.prototype == expected_prototype;
  return k;
}

// Missing pieces and mismatching prototypes of one interface, as one reason.
class InterfaceGaps {
 public:
  void need(bool ok, const std::string& what) {
    if (!ok) lacks_ += (lacks_.empty() ? "" : ", ") + what;
  }
  void need(const KfuncProbe& k, const char* name, const char* expected) {
    if (!k.present) return need(false, std::string("kfunc ") + name);
    if (!k.matches)
      mismatches_ += fmt::format("{}kfunc {} is `{}`, not `{}`", mismatches_.empty() ? "" : "; ", name,
                                 k.prototype, expected);
  }
  std::string reason(const char* interface) const {
    std::string r;
    if (!lacks_.empty()) r = "kernel BTF lacks " + lacks_;
    if (!mismatches_.empty()) r += (r.empty() ? "kernel BTF declares " : "; it declares ") + mismatches_;
    return r.empty() ? "" : r + " (" + interface + ")";
  }

 private:
  std::string lacks_, mismatches_;
};

}  // namespace

std::string AutolowatKernelSupport::sockops_missing() const {
  if (!btf_loaded) return "the kernel exposes no BTF at /sys/kernel/btf/vmlinux";
  InterfaceGaps gaps;
  gaps.need(rcvq_cb_op.has_value(), "enum value BPF_SOCK_OPS_RCVQ_CB");
  gaps.need(rcvq_cb_flag.has_value(), "enum value BPF_SOCK_OPS_RCVQ_CB_FLAG");
  gaps.need(sockops_set_rcvlowat, "bpf_sock_ops_tcp_set_rcvlowat", kSockopsSetRcvlowatPrototype);
  return gaps.reason("the v3 sock_ops hook");
}

std::string AutolowatKernelSupport::tcp_ops_missing() const {
  if (!btf_loaded) return "the kernel exposes no BTF at /sys/kernel/btf/vmlinux";
  InterfaceGaps gaps;
  gaps.need(tcp_ops_type, "struct bpf_tcp_ops");
  gaps.need(tcp_ops_set_rcvlowat, "bpf_tcp_ops_set_rcvlowat", kTcpOpsSetRcvlowatPrototype);
  gaps.need(tcp_ops_set_flags, "bpf_tcp_ops_set_flags", kTcpOpsSetFlagsPrototype);
  gaps.need(tcp_ops_flag_rcvq.has_value(), "enum value BPF_TCP_OPS_FLAG_RCVQ");
  gaps.need(tcp_ops_attach_type.has_value(), "attach type BPF_CGROUP_TCP_SOCK_OPS");
  return gaps.reason("the struct_ops revision");
}

AutolowatKernelSupport probe_autolowat_btf(const struct btf* btf) {
  AutolowatKernelSupport s;
  if (!btf) return s;
  s.btf_loaded = true;
  s.rcvq_cb_op = enum_value(btf, "BPF_SOCK_OPS_RCVQ_CB");
  s.rcvq_cb_flag = enum_value(btf, "BPF_SOCK_OPS_RCVQ_CB_FLAG");
  s.sockops_set_rcvlowat = probe_kfunc(btf, "bpf_sock_ops_tcp_set_rcvlowat", kSockopsSetRcvlowatPrototype);
  s.tcp_ops_type = has(btf, "bpf_tcp_ops", BTF_KIND_STRUCT);
  s.tcp_ops_set_rcvlowat = probe_kfunc(btf, "bpf_tcp_ops_set_rcvlowat", kTcpOpsSetRcvlowatPrototype);
  s.tcp_ops_set_flags = probe_kfunc(btf, "bpf_tcp_ops_set_flags", kTcpOpsSetFlagsPrototype);
  s.tcp_ops_flag_rcvq = enum_value(btf, "BPF_TCP_OPS_FLAG_RCVQ");
  s.tcp_ops_attach_type = enum_value(btf, "BPF_CGROUP_TCP_SOCK_OPS");
  return s;
}

AutolowatKernelSupport probe_autolowat_kernel() {
  struct btf* btf = btf__load_vmlinux_btf();
  if (!btf) return {};
  AutolowatKernelSupport s = probe_autolowat_btf(btf);
  btf__free(btf);
  return s;
}

std::string backend_name(autolowat_backend backend) {
  switch (backend) {
    case AUTOLOWAT_BACKEND_SOCKOPS: return "sockops";
    case AUTOLOWAT_BACKEND_TCP_OPS: return "tcp-ops";
    case AUTOLOWAT_BACKEND_NONE: break;
  }
  return "none";
}

AutolowatBackendChoice choose_autolowat_backend(const AutolowatKernelSupport& kernel,
                                                const std::string& requested) {
  const std::string sockops = kernel.sockops_missing(), tcp_ops = kernel.tcp_ops_missing();
  if (requested == "sockops")
    return sockops.empty() ? AutolowatBackendChoice{AUTOLOWAT_BACKEND_SOCKOPS, {}}
                           : AutolowatBackendChoice{AUTOLOWAT_BACKEND_NONE, "backend sockops: " + sockops};
  if (requested == "tcp-ops")
    return tcp_ops.empty() ? AutolowatBackendChoice{AUTOLOWAT_BACKEND_TCP_OPS, {}}
                           : AutolowatBackendChoice{AUTOLOWAT_BACKEND_NONE, "backend tcp-ops: " + tcp_ops};
  if (tcp_ops.empty()) return {AUTOLOWAT_BACKEND_TCP_OPS, {}};
  if (sockops.empty()) return {AUTOLOWAT_BACKEND_SOCKOPS, {}};
  return {AUTOLOWAT_BACKEND_NONE,
          fmt::format("this kernel has neither AutoLOWAT interface: {}; {}", sockops, tcp_ops)};
}

AutolowatPrograms::AutolowatPrograms(const Framing& framing, const AutolowatKernelSupport& kernel,
                                     autolowat_backend backend)
    : backend_(backend) {
  skel_ = autolowat__open();
  if (!skel_) throw RunError(fmt::format("cannot open the autolowat BPF object: {}", std::strerror(errno)));
  set_autolowat_constants(*skel_, framing, kernel, backend);
  if (int err = autolowat__load(skel_)) {
    autolowat__destroy(skel_);
    throw RunError(fmt::format("the kernel refused the autolowat BPF object: {}", std::strerror(-err)));
  }
  if (backend != AUTOLOWAT_BACKEND_TCP_OPS) return;

  tcp_ops_attach_type_ = kernel.tcp_ops_attach_type.value_or(0);
  tcp_ops_ = autolowat_tcp_ops__open();
  if (!tcp_ops_) {
    autolowat__destroy(skel_);
    throw RunError(fmt::format("cannot open the autolowat_tcp_ops BPF object: {}", std::strerror(errno)));
  }
  tcp_ops_->rodata->framing_spec = framing.spec;
  int err = bpf_map__reuse_fd(tcp_ops_->maps.autolowat_state, bpf_map__fd(skel_->maps.autolowat_state));
  if (!err) err = autolowat_tcp_ops__load(tcp_ops_);
  if (err) {
    autolowat_tcp_ops__destroy(tcp_ops_);
    autolowat__destroy(skel_);
    throw RunError(fmt::format("the kernel refused the struct bpf_tcp_ops object: {}", std::strerror(-err)));
  }
}

AutolowatPrograms::~AutolowatPrograms() {
  detach();
  if (tcp_ops_) autolowat_tcp_ops__destroy(tcp_ops_);
  autolowat__destroy(skel_);
}

void AutolowatPrograms::attach(int cgroup_fd) {
  // BPF links, not bpf_prog_attach: a link dies with its fd, so even a killed process
  // leaves no program attached to the cgroup.
  auto attach_prog = [&](struct bpf_program* prog, const char* what) {
    struct bpf_link* link = bpf_program__attach_cgroup(prog, cgroup_fd);
    if (!link) {
      const int e = errno;
      detach();
      throw RunError(fmt::format("cannot attach the {} program to the cgroup: {}", what, std::strerror(e)));
    }
    links_.push_back(link);
  };
  attach_prog(skel_->progs.autolowat_enable, "cgroup/setsockopt");
  if (backend_ == AUTOLOWAT_BACKEND_SOCKOPS) {
    attach_prog(skel_->progs.autolowat_sockops, "sock_ops");
  } else if (backend_ == AUTOLOWAT_BACKEND_TCP_OPS) {
    // libbpf 1.1 has no helper for a cgroup-attached struct_ops: the raw link call.
    const int link = bpf_link_create(bpf_map__fd(tcp_ops_->maps.autolowat_tcp_ops), cgroup_fd,
                                     bpf_attach_type(tcp_ops_attach_type_), nullptr);
    if (link < 0) {
      detach();
      throw RunError(fmt::format("cannot attach struct bpf_tcp_ops to the cgroup: {}", std::strerror(-link)));
    }
    tcp_ops_link_fd_ = link;
  }
}

void AutolowatPrograms::detach() {
  if (tcp_ops_link_fd_ >= 0) close(tcp_ops_link_fd_);
  tcp_ops_link_fd_ = -1;
  for (struct bpf_link* link : links_) bpf_link__destroy(link);
  links_.clear();
}

bool AutolowatPrograms::socket_record(int fd, void* out, size_t size) const {
  if (size != bpf_map__value_size(skel_->maps.autolowat_state)) return false;
  return bpf_map_lookup_elem(bpf_map__fd(skel_->maps.autolowat_state), &fd, out) == 0;
}

uint64_t AutolowatPrograms::enable_requests() const { return skel_->bss->enable_requests; }
uint64_t AutolowatPrograms::enable_refusals() const { return skel_->bss->enable_refusals; }

int request_autolowat(int fd) {
  const int on = 1;
  if (setsockopt(fd, int(AUTOLOWAT_SOL_BPF), int(AUTOLOWAT_OPTNAME), &on, sizeof on) == 0) return 0;
  return errno;
}

std::string inherited_hook_problem(const autolowat_counters* record) {
  if (!record)
    return "the socket has no AutoLOWAT record, so it did not inherit one from an armed listener";
  if (record->armed)
    return "its record is still armed: the sock_ops program did not run for it at passive-established "
           "(it must be attached to the cgroup the listener was created in)";
  if (!record->enabled)
    return fmt::format("the kernel refused the RCVQ callback flag at passive-established: {}",
                       record->last_error ? std::strerror(int(record->last_error)) : "no error recorded");
  return "";
}

}  // namespace rcvq
