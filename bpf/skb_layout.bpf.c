// tc ingress on the TAP: how the receiving stack got each TCP segment. Compares the
// skb's linear length with its total length (header/data split puts the payload in
// page frags, so nothing of it is linear) and counts the wire segments GRO merged.
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "skb_layout.h"

// "Carry on": the next tcx program or tc filter still sees the packet, so an observer on
// someone's NIC changes nothing of its classification.
#define TC_ACT_UNSPEC (-1)
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP_NUM 6


struct skb_layout_counts counts = {};
// Only segments to this TCP port (network byte order) when set: on a real NIC other
// traffic (the control connection, ssh) must not count as the run's.
const volatile __u16 only_dport = 0;

SEC("tc")
int skb_layout(struct __sk_buff *skb) {
  __u32 ip_len = 0;
  __u8 proto = 0;
  if (skb->protocol == bpf_htons(ETH_P_IP)) {
    __u8 vihl;
    if (bpf_skb_load_bytes(skb, ETH_HLEN, &vihl, 1)) return TC_ACT_UNSPEC;
    if (bpf_skb_load_bytes(skb, ETH_HLEN + 9, &proto, 1)) return TC_ACT_UNSPEC;
    ip_len = (vihl & 0xf) * 4;
  } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
    if (bpf_skb_load_bytes(skb, ETH_HLEN + 6, &proto, 1)) return TC_ACT_UNSPEC;
    ip_len = 40;
  } else {
    return TC_ACT_UNSPEC;
  }
  if (proto != IPPROTO_TCP_NUM) return TC_ACT_UNSPEC;
  if (only_dport) {
    __u16 dport;
    if (bpf_skb_load_bytes(skb, ETH_HLEN + ip_len + 2, &dport, 2)) return TC_ACT_UNSPEC;
    if (dport != only_dport) return TC_ACT_UNSPEC;
  }
  __u8 doff;
  if (bpf_skb_load_bytes(skb, ETH_HLEN + ip_len + 12, &doff, 1)) return TC_ACT_UNSPEC;
  __sync_fetch_and_add(&counts.tcp_skbs, 1);
  const __u32 headers = ETH_HLEN + ip_len + (doff >> 4) * 4;
  if (skb->len <= headers) return TC_ACT_UNSPEC;
  const __u32 payload = skb->len - headers;
  // tc at ingress sees the skb with data at the MAC header.
  const __u32 linear = (__u32)((long)skb->data_end - (long)skb->data);
  const __u32 linear_payload = linear > headers ? linear - headers : 0;
  __sync_fetch_and_add(&counts.data_skbs, 1);
  __sync_fetch_and_add(&counts.payload_bytes, payload);
  __sync_fetch_and_add(&counts.linear_payload_bytes, linear_payload);
  if (linear_payload == 0)
    __sync_fetch_and_add(&counts.payload_in_frags, 1);
  else if (linear_payload >= payload)
    __sync_fetch_and_add(&counts.payload_linear, 1);
  else
    __sync_fetch_and_add(&counts.payload_mixed, 1);
  const __u32 segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
  __sync_fetch_and_add(&counts.wire_segments, segs);
  if (segs > 1) __sync_fetch_and_add(&counts.gro_merged_skbs, 1);
  return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
