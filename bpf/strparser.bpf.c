// SPDX-License-Identifier: GPL-2.0
/* The kernel's own message framing for the `strparser` receiver mode: a sockmap whose
 * stream parser returns each frame's length from the scenario's framing spec, and a
 * verdict that passes every complete frame to the socket it arrived on. The reader is
 * then woken once per frame, because the psock queues whole messages only.
 *
 * The strparser hands the parser the head skb of the message being assembled, and
 * that skb's data starts where the TCP skb started, not where the message does: when
 * the previous message ended inside the same skb, the message begins strp.offset bytes
 * in. The kernel does not hide this from BPF parsers, so the offset is read from the
 * skb's control block (struct sk_skb_cb, found by CO-RE).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "loaded_framing_spec.h"

char LICENSE[] SEC("license") = "GPL";

#define EPROTO 71
#define EMSGSIZE 90
#define INT_MAX 0x7fffffff

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

/* Filled by the receiver from the scenario's framing before loading. */

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} frame_sockets SEC(".maps");

/* Sockets whose stream still starts with the unframed preamble, by socket cookie;
 * the value is the preamble's length. Userspace adds a socket before inserting it
 * into the sockmap; the parser removes it once the preamble became its own message. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} pending_preamble SEC(".maps");

/* Parser outcomes, for the run's record and for tests. */
enum strparser_stat {
	STAT_FRAMES,       /* frame lengths returned */
	STAT_PREAMBLES,    /* preamble lengths returned */
	STAT_NEED_MORE,    /* prefix not complete yet */
	STAT_MALFORMED,    /* prefix declared an impossible length */
	STAT_OFFSET_SEEN,  /* a message began inside an skb (strp.offset > 0) */
	STAT_COUNT,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} parser_stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
	__u64 *value = bpf_map_lookup_elem(&parser_stats, &stat);

	if (value)
		*value += 1;
}

/* Where the message being parsed starts inside the skb the parser was given. */
static __always_inline int message_offset(struct __sk_buff *ctx)
{
	struct sk_buff *skb = bpf_cast_to_kern_ctx(ctx);
	struct sk_skb_cb *cb = (struct sk_skb_cb *)skb->cb;

	return BPF_CORE_READ(cb, strp.strp.offset);
}

SEC("sk_skb/stream_parser")
int parse_frame(struct __sk_buff *skb)
{
	__u8 prefix[FT_MAX_PREFIX] = {};
	__u32 prefix_size = framing_spec.prefix_size;
	__u64 cookie, frame_len;
	__u32 *preamble;
	int offset;

	if (framing_spec.preamble) {
		cookie = bpf_get_socket_cookie(skb);
		preamble = bpf_map_lookup_elem(&pending_preamble, &cookie);
		if (preamble) {
			__u32 length = *preamble;

			bpf_map_delete_elem(&pending_preamble, &cookie);
			count(STAT_PREAMBLES);
			return length;
		}
	}

	offset = message_offset(skb);
	if (offset < 0 || offset >= skb->len)
		return -EPROTO;
	if (offset > 0)
		count(STAT_OFFSET_SEEN);
	if (prefix_size == 0 || prefix_size > FT_MAX_PREFIX)
		return -EPROTO;
	if (skb->len - offset < prefix_size) {
		count(STAT_NEED_MORE);
		return 0;
	}
	if (bpf_skb_load_bytes(skb, offset, prefix, prefix_size))
		return -EPROTO;
	frame_len = ft_frame_len(loaded_framing_spec(), prefix);
	if (frame_len == 0) {
		count(STAT_MALFORMED);
		return -EPROTO;
	}
	if (frame_len > INT_MAX)
		return -EMSGSIZE;
	count(STAT_FRAMES);
	return (int)frame_len;
}

SEC("sk_skb/stream_verdict")
int pass_frame(struct __sk_buff *skb)
{
	return SK_PASS;
}
