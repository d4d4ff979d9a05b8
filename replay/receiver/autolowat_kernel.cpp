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

}  // namespace

std::string AutolowatKernelSupport::sockops_missing() const {
  if (!btf_loaded) return "the kernel exposes no BTF at /sys/kernel/btf/vmlinux";
  std::string missing;
  auto add = [&](bool ok, const char* what) {
    if (!ok) missing += (missing.empty() ? "" : ", ") + std::string(what);
  };
  add(rcvq_cb_op.has_value(), "enum value BPF_SOCK_OPS_RCVQ_CB");
  add(rcvq_cb_flag.has_value(), "enum value BPF_SOCK_OPS_RCVQ_CB_FLAG");
  add(sockops_set_rcvlowat, "kfunc bpf_sock_ops_tcp_set_rcvlowat");
  return missing.empty() ? "" : "kernel BTF lacks " + missing + " (the v3 sock_ops hook)";
}

std::string AutolowatKernelSupport::tcp_ops_missing() const {
  if (!btf_loaded) return "the kernel exposes no BTF at /sys/kernel/btf/vmlinux";
  std::string missing;
  auto add = [&](bool ok, const char* what) {
    if (!ok) missing += (missing.empty() ? "" : ", ") + std::string(what);
  };
  add(tcp_ops_type, "struct bpf_tcp_ops");
  add(tcp_ops_set_rcvlowat, "kfunc bpf_tcp_ops_set_rcvlowat");
  add(tcp_ops_set_flags, "kfunc bpf_tcp_ops_set_flags");
  add(tcp_ops_flag_rcvq.has_value(), "enum value BPF_TCP_OPS_FLAG_RCVQ");
  add(tcp_ops_attach_type.has_value(), "attach type BPF_CGROUP_TCP_SOCK_OPS");
  return missing.empty() ? "" : "kernel BTF lacks " + missing + " (the struct_ops revision)";
}

AutolowatKernelSupport probe_autolowat_btf(const struct btf* btf) {
  AutolowatKernelSupport s;
  if (!btf) return s;
  s.btf_loaded = true;
  s.rcvq_cb_op = enum_value(btf, "BPF_SOCK_OPS_RCVQ_CB");
  s.rcvq_cb_flag = enum_value(btf, "BPF_SOCK_OPS_RCVQ_CB_FLAG");
  s.sockops_set_rcvlowat = has(btf, "bpf_sock_ops_tcp_set_rcvlowat", BTF_KIND_FUNC);
  s.tcp_ops_type = has(btf, "bpf_tcp_ops", BTF_KIND_STRUCT);
  s.tcp_ops_set_rcvlowat = has(btf, "bpf_tcp_ops_set_rcvlowat", BTF_KIND_FUNC);
  s.tcp_ops_set_flags = has(btf, "bpf_tcp_ops_set_flags", BTF_KIND_FUNC);
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
  skel_->rodata->framing_spec = framing.spec;
  skel_->rodata->backend = backend;
  skel_->rodata->rcvq_cb_op = kernel.rcvq_cb_op.value_or(0);
  skel_->rodata->rcvq_cb_flag = kernel.rcvq_cb_flag.value_or(0);
  skel_->rodata->tcp_ops_flag_rcvq = kernel.tcp_ops_flag_rcvq.value_or(0);
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

}  // namespace rcvq
