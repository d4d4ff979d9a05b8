// Counters of bpf/skb_layout.bpf.c, shared with the C++ reader.
#ifndef RCVQ_SKB_LAYOUT_H
#define RCVQ_SKB_LAYOUT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct skb_layout_counts {
  __u64 tcp_skbs;          // every TCP skb, pure ACKs and handshake included
  __u64 data_skbs;         // skbs carrying TCP payload
  __u64 payload_in_frags;  // ... with no payload byte in the linear area
  __u64 payload_linear;    // ... with all payload in the linear area
  __u64 payload_mixed;     // ... with payload partly linear, partly paged
  __u64 wire_segments;     // wire packets behind the data skbs (GRO merges several)
  __u64 gro_merged_skbs;   // data skbs built from more than one wire packet
  __u64 payload_bytes;
  __u64 linear_payload_bytes;
};

#endif
