// SPDX-License-Identifier: GPL-2.0
/* AutoLOWAT through the struct_ops revision: `struct bpf_tcp_ops` attached to a cgroup,
 * enqueue_rcvq() per queued skb and dequeue_rcvq() after recvmsg, rcvlowat set with
 * bpf_tcp_ops_set_rcvlowat. The same frame tracker as the sock_ops backend; payload
 * read through a skb dynptr. The per-socket state map is shared with autolowat.bpf.c,
 * whose cgroup/setsockopt program creates it (the receiver reuses the map fd).
 *
 * A separate object because libbpf cannot even load a struct_ops map whose type the
 * running kernel lacks; keeping it apart lets the sock_ops object load everywhere.
 */

/* libbpf 1.1 matches a struct_ops map to the kernel type by its exact name, so the
 * local declaration must be called bpf_tcp_ops. A vmlinux.h generated on a kernel
 * that has the type would clash with it: rename that copy out of the way. */
#define bpf_tcp_ops bpf_tcp_ops___from_vmlinux
#include "vmlinux.h"
#undef bpf_tcp_ops
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "autolowat_abi.h"

#define FT_LOAD_BYTES(reader, offset, dst, len) \
	bpf_dynptr_read((dst), (len), (struct bpf_dynptr *)(reader), (offset), 0)
#include "frame_tracker.h"
#include "loaded_framing_spec.h"

char LICENSE[] SEC("license") = "GPL";

#define TCPHDR_FIN 0x01

#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) ({ _Static_assert(!__builtin_constant_p(!!sym), #sym " must be __weak"); !!sym; })
#endif
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define rcvq_core_cast(ptr, type) ((type *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))
extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags, struct bpf_dynptr *ptr) __ksym __weak;
extern int bpf_tcp_ops_set_rcvlowat(struct sock *sk, int rcvlowat) __ksym __weak;

/* The members this program fills; libbpf matches them to the kernel's by name. */
struct bpf_tcp_ops {
	void (*enqueue_rcvq)(struct sock *sk, struct sk_buff *skb);
	void (*dequeue_rcvq)(struct sock *sk);
};


#include "autolowat_state.h"


static __always_inline void apply_verdict(struct sock *sk, struct autolowat_sk *st,
					  const struct ft_verdict *v, __u32 previous_lowat)
{
	int err;

	st->counters.descriptors += v->descriptors;
	if (v->lowat != previous_lowat) {
		err = bpf_tcp_ops_set_rcvlowat(sk, (int)v->lowat);
		if (err)
			st->counters.last_error = -err;
		else
			st->counters.lowat_sets++;
	}
	/* Staying attached costs one call per skb; lowat 1 restores default behaviour. */
	if (v->disable)
		st->counters.disabled = 1;
}

SEC("struct_ops/enqueue_rcvq")
void BPF_PROG(autolowat_enqueue_rcvq, struct sock *sk, struct sk_buff *skb)
{
	struct autolowat_sk *st;
	struct ft_verdict v = {};
	struct bpf_dynptr payload;
	struct tcp_skb_cb *cb;
	__u32 previous, end_seq, copied_seq;
	int fin;

	if (!bpf_ksym_exists(bpf_tcp_ops_set_rcvlowat) || !bpf_ksym_exists(bpf_dynptr_from_skb))
		return;
	st = bpf_sk_storage_get(&autolowat_state, sk, 0, 0);
	if (!st || st->counters.disabled)
		return;
	st->counters.skb_events++;
	previous = st->ft.lowat;
	cb = rcvq_core_cast(skb->cb, struct tcp_skb_cb);
	fin = cb->tcp_flags & TCPHDR_FIN;
	end_seq = cb->end_seq - (fin ? 1 : 0);
	copied_seq = rcvq_core_cast(sk, struct tcp_sock)->copied_seq;
	if (bpf_dynptr_from_skb((struct __sk_buff *)skb, 0, &payload)) {
		ft_stop(&st->ft, FT_STOP_LOAD_ERROR); /* payload unreadable: give up */
		ft_on_read(&st->ft, loaded_framing_spec(), copied_seq, &v);
	} else {
		ft_on_skb(&st->ft, loaded_framing_spec(), &payload, cb->seq, end_seq, fin, copied_seq, &v);
	}
	apply_verdict(sk, st, &v, previous);
}

SEC("struct_ops/dequeue_rcvq")
void BPF_PROG(autolowat_dequeue_rcvq, struct sock *sk)
{
	struct autolowat_sk *st;
	struct ft_verdict v = {};
	__u32 previous;

	if (!bpf_ksym_exists(bpf_tcp_ops_set_rcvlowat))
		return;
	st = bpf_sk_storage_get(&autolowat_state, sk, 0, 0);
	if (!st || st->counters.disabled)
		return;
	st->counters.read_events++;
	previous = st->ft.lowat;
	ft_on_read(&st->ft, loaded_framing_spec(), rcvq_core_cast(sk, struct tcp_sock)->copied_seq, &v);
	apply_verdict(sk, st, &v, previous);
}

SEC(".struct_ops")
struct bpf_tcp_ops autolowat_tcp_ops = {
	.enqueue_rcvq = (void *)autolowat_enqueue_rcvq,
	.dequeue_rcvq = (void *)autolowat_dequeue_rcvq,
};
