#include "transport/tap/skb_layout_probe.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstring>

#include "skb_layout.h"
#include "skb_layout.skel.h"

namespace rcvq::tap {

SkbLayout SkbLayout::operator-(const SkbLayout& o) const {
  return {tcp_skbs - o.tcp_skbs,
          data_skbs - o.data_skbs,
          payload_in_frags - o.payload_in_frags,
          payload_linear - o.payload_linear,
          payload_mixed - o.payload_mixed,
          wire_segments - o.wire_segments,
          gro_merged_skbs - o.gro_merged_skbs,
          payload_bytes - o.payload_bytes,
          linear_payload_bytes - o.linear_payload_bytes};
}

nlohmann::json SkbLayout::to_json() const {
  return {{"tcp_skbs", tcp_skbs},
          {"data_skbs", data_skbs},
          {"payload_in_frags", payload_in_frags},
          {"payload_linear", payload_linear},
          {"payload_mixed", payload_mixed},
          {"wire_segments", wire_segments},
          {"gro_merged_skbs", gro_merged_skbs},
          {"payload_bytes", payload_bytes},
          {"linear_payload_bytes", linear_payload_bytes}};
}

SkbLayoutProbe::SkbLayoutProbe(const Netns& ns, const std::string& device) { attach(ns, device, 0); }

SkbLayoutProbe::SkbLayoutProbe(const Netns& ns, const std::string& device, uint16_t port) {
  attach(ns, device, port);
  if (skel_) detach_ns_ = &ns;
}

namespace {
// BPF_TCX_INGRESS (Linux 6.6), newer than Debian 12's uapi headers and libbpf 1.1.
constexpr int kTcxIngress = 46;
}  // namespace

void SkbLayoutProbe::attach(const Netns& ns, const std::string& device, uint16_t port) {
  // Netlink (tc) and if_nametoindex act in the calling thread's namespace.
  NetnsGuard inside(ns);
  const unsigned ifindex = if_nametoindex(device.c_str());
  if (ifindex == 0) {
    reason_ = fmt::format("no device {} in the receiver namespace", device);
    return;
  }
  skb_layout* skel = skb_layout__open();
  if (!skel) {
    reason_ = fmt::format("opening bpf/skb_layout.bpf.c failed: {}", std::strerror(errno));
    return;
  }
  skel->rodata->only_dport = htons(port);
  if (int err = skb_layout__load(skel)) {
    reason_ = fmt::format("loading bpf/skb_layout.bpf.c failed: {}", std::strerror(-err));
    skb_layout__destroy(skel);
    return;
  }
  if (port) {
    tcx_link_fd_ = bpf_link_create(bpf_program__fd(skel->progs.skb_layout), int(ifindex),
                                   bpf_attach_type(kTcxIngress), nullptr);
    if (tcx_link_fd_ >= 0) {
      skel_ = skel;
      return;
    }
  }
  bpf_tc_hook hook{};
  hook.sz = sizeof hook;
  hook.ifindex = int(ifindex);
  hook.attach_point = BPF_TC_INGRESS;
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) {
    reason_ = fmt::format("creating the clsact qdisc on {} failed: {}", device, std::strerror(-err));
    skb_layout__destroy(skel);
    return;
  }
  const bool created_qdisc = err == 0;
  bpf_tc_opts opts{};
  opts.sz = sizeof opts;
  opts.prog_fd = bpf_program__fd(skel->progs.skb_layout);
  err = bpf_tc_attach(&hook, &opts);
  if (err) {
    reason_ = fmt::format("attaching the tc ingress program on {} failed: {}", device, std::strerror(-err));
    if (created_qdisc && port) {
      hook.attach_point = bpf_tc_attach_point(BPF_TC_INGRESS | BPF_TC_EGRESS);
      bpf_tc_hook_destroy(&hook);
    }
    skb_layout__destroy(skel);
    return;
  }
  // Without a port the device is the tool's own (a TAP): the filter lives as long as
  // the device, and the namespace's end removes both.
  ifindex_ = int(ifindex);
  handle_ = opts.handle;
  priority_ = opts.priority;
  created_qdisc_ = created_qdisc;
  skel_ = skel;
}

SkbLayoutProbe::~SkbLayoutProbe() {
  if (tcx_link_fd_ >= 0) {
    close(tcx_link_fd_);
  } else if (detach_ns_) {
    NetnsGuard inside(*detach_ns_);
    bpf_tc_hook hook{};
    hook.sz = sizeof hook;
    hook.ifindex = ifindex_;
    hook.attach_point = BPF_TC_INGRESS;
    bpf_tc_opts opts{};
    opts.sz = sizeof opts;
    opts.handle = handle_;
    opts.priority = priority_;
    bpf_tc_detach(&hook, &opts);
    // Both attach points name the qdisc itself; ingress alone would only flush filters.
    hook.attach_point = bpf_tc_attach_point(BPF_TC_INGRESS | BPF_TC_EGRESS);
    if (created_qdisc_) bpf_tc_hook_destroy(&hook);
  }
  if (skel_) skb_layout__destroy(skel_);
}

SkbLayout SkbLayoutProbe::read() const {
  SkbLayout s;
  if (!skel_) return s;
  const auto& c = skel_->bss->counts;
  s.tcp_skbs = __atomic_load_n(&c.tcp_skbs, __ATOMIC_RELAXED);
  s.data_skbs = __atomic_load_n(&c.data_skbs, __ATOMIC_RELAXED);
  s.payload_in_frags = __atomic_load_n(&c.payload_in_frags, __ATOMIC_RELAXED);
  s.payload_linear = __atomic_load_n(&c.payload_linear, __ATOMIC_RELAXED);
  s.payload_mixed = __atomic_load_n(&c.payload_mixed, __ATOMIC_RELAXED);
  s.wire_segments = __atomic_load_n(&c.wire_segments, __ATOMIC_RELAXED);
  s.gro_merged_skbs = __atomic_load_n(&c.gro_merged_skbs, __ATOMIC_RELAXED);
  s.payload_bytes = __atomic_load_n(&c.payload_bytes, __ATOMIC_RELAXED);
  s.linear_payload_bytes = __atomic_load_n(&c.linear_payload_bytes, __ATOMIC_RELAXED);
  return s;
}

}  // namespace rcvq::tap
