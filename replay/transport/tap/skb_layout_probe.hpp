#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "transport/netns.hpp"

struct skb_layout;

namespace rcvq::tap {

struct SkbLayout {
  uint64_t tcp_skbs = 0, data_skbs = 0, payload_in_frags = 0, payload_linear = 0, payload_mixed = 0;
  uint64_t wire_segments = 0, gro_merged_skbs = 0, payload_bytes = 0, linear_payload_bytes = 0;
  SkbLayout operator-(const SkbLayout& o) const;
  nlohmann::json to_json() const;
};

// A tc ingress program on the TAP (bpf/skb_layout.bpf.c) that records how each TCP
// skb reached the receiving stack: payload linear or in page frags, GRO merges.
class SkbLayoutProbe {
 public:
  // Never throws for a host that refuses BPF or tc: available() is then false and
  // unavailable_reason() says why.
  SkbLayoutProbe(const Netns& ns, const std::string& device);
  // On a device that outlives this process (a real NIC): counts only TCP segments to
  // `port`. Attached as a tcx link where the kernel has them (6.6+), which the kernel
  // removes with this process however it ends; else as a tc filter that the destructor
  // removes (and the clsact qdisc, when it added one). `ns` must outlive the probe.
  SkbLayoutProbe(const Netns& ns, const std::string& device, uint16_t port);
  ~SkbLayoutProbe();
  SkbLayoutProbe(const SkbLayoutProbe&) = delete;
  SkbLayoutProbe& operator=(const SkbLayoutProbe&) = delete;

  bool available() const { return skel_ != nullptr; }
  const std::string& unavailable_reason() const { return reason_; }
  SkbLayout read() const;

 private:
  void attach(const Netns& ns, const std::string& device, uint16_t port);

  ::skb_layout* skel_ = nullptr;
  std::string reason_;
  // Set when the filter must go with the probe: the namespace, device and filter to detach.
  const Netns* detach_ns_ = nullptr;
  int ifindex_ = 0;
  uint32_t handle_ = 0, priority_ = 0;
  bool created_qdisc_ = false;
  int tcx_link_fd_ = -1;
};

}  // namespace rcvq::tap
