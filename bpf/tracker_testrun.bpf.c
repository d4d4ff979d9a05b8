// SPDX-License-Identifier: GPL-2.0
/* The frame tracker inside a program type this kernel runs under BPF_PROG_TEST_RUN
 * (tc), fed crafted Ethernet/IPv4/TCP packets by tests/integration. It proves that the
 * verifier accepts the very core the AutoLOWAT programs use (on kernels without the
 * hook their tracker paths are dead code the verifier skips) and lets the tests compare
 * the kernel-side results with the userspace model, event by event.
 *
 * The framing spec lives in writable data on purpose: the verifier then knows nothing
 * about it and must accept the core for every spec, not just one constant.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct packet_reader {
	struct __sk_buff *skb;
	__u32 payload_offset; /* of the TCP payload within the packet */
};

#define FT_LOAD_BYTES(reader, offset, dst, len)                                         \
	bpf_skb_load_bytes(((struct packet_reader *)(reader))->skb,                      \
			   ((struct packet_reader *)(reader))->payload_offset + (offset), (dst), \
			   (len))
#include "frame_tracker.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define IPPROTO_TCP 6

enum testrun_event {
	TESTRUN_INIT = 0,  /* start tracking at copied_seq */
	TESTRUN_SKB = 1,   /* the packet is one queued skb */
	TESTRUN_READ = 2,  /* recvmsg finished at copied_seq */
};

struct ft_spec spec = {.prefix_size = 1, .nfields = 1};
__u32 event = TESTRUN_INIT;
__u32 copied_seq = 0;

struct ft_state state = {};
struct ft_verdict verdict = {};
__s32 parse_error = 0;

static __always_inline int tcp_segment(struct __sk_buff *skb, __u32 *seq, __u32 *payload_offset,
				       __u32 *payload_len, int *fin)
{
	struct iphdr ip;
	struct tcphdr tcp;
	__u16 proto;
	__u32 ip_len, tcp_off, tcp_len;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)) || proto != bpf_htons(ETH_P_IP))
		return -1;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) || ip.protocol != IPPROTO_TCP)
		return -2;
	ip_len = ip.ihl * 4;
	tcp_off = ETH_HLEN + ip_len;
	if (bpf_skb_load_bytes(skb, tcp_off, &tcp, sizeof(tcp)))
		return -3;
	tcp_len = tcp.doff * 4;
	*payload_offset = tcp_off + tcp_len;
	if (*payload_offset > skb->len || bpf_ntohs(ip.tot_len) < ip_len + tcp_len)
		return -4;
	*payload_len = bpf_ntohs(ip.tot_len) - ip_len - tcp_len;
	*seq = bpf_ntohl(tcp.seq);
	*fin = tcp.fin;
	return 0;
}

SEC("tc")
int tracker_testrun(struct __sk_buff *skb)
{
	struct packet_reader reader = {.skb = skb};
	__u32 seq, payload_len;
	int fin, err;

	if (event == TESTRUN_INIT) {
		ft_init(&state, &spec, copied_seq);
		return 0;
	}
	if (event == TESTRUN_READ) {
		ft_on_read(&state, &spec, copied_seq, &verdict);
		return 0;
	}
	err = tcp_segment(skb, &seq, &reader.payload_offset, &payload_len, &fin);
	parse_error = err;
	if (err)
		return 0;
	ft_on_skb(&state, &spec, &reader, seq, seq + payload_len, fin, copied_seq, &verdict);
	return 0;
}
