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
					  const struct ft_verdict *v)
{
	int err;

	st->counters.descriptors += v->descriptors;
	/* Judged by the socket's own value, which the kernel's cap may have changed. */
	if ((int)v->lowat != sk->sk_rcvlowat) {
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

/* Only read, so a read-only view does; it needs no helper the struct_ops type might
 * not offer (tcp_congestion_ops, for one, has no bpf_skc_to_tcp_sock). */
static __always_inline __u32 copied_seq_of(struct sock *sk)
{
	return rcvq_core_cast(sk, struct tcp_sock)->copied_seq;
}

/* The record of a socket this backend tracks: enabled and not stopped. The hook runs
 * only while the socket's flag is on; with nothing to track (the tracker stopped, or
 * the state is gone), lowat goes back to 1 so that none is left frame-sized. */
static __always_inline struct autolowat_sk *tracked_state(struct sock *sk)
{
	struct autolowat_sk *st = bpf_sk_storage_get(&autolowat_state, sk, 0, 0);

	if (st && st->counters.enabled && !st->counters.disabled)
		return st;
	if (sk->sk_rcvlowat != 1)
		bpf_tcp_ops_set_rcvlowat(sk, 1);
	return NULL;
}

SEC("struct_ops/enqueue_rcvq")
void BPF_PROG(autolowat_enqueue_rcvq, struct sock *sk, struct sk_buff *skb)
{
	struct autolowat_sk *st;
	struct ft_verdict v = {};
	struct bpf_dynptr payload;
	struct tcp_skb_cb *cb;
	__u32 end_seq, copied_seq;
	int fin;

	if (!bpf_ksym_exists(bpf_tcp_ops_set_rcvlowat) || !bpf_ksym_exists(bpf_dynptr_from_skb))
		return;
	st = tracked_state(sk);
	if (!st)
		return;
	st->counters.skb_events++;
	cb = rcvq_core_cast(skb->cb, struct tcp_skb_cb);
	fin = cb->tcp_flags & TCPHDR_FIN;
	end_seq = cb->end_seq - (fin ? 1 : 0);
	copied_seq = copied_seq_of(sk);
	if (bpf_dynptr_from_skb((struct __sk_buff *)skb, 0, &payload)) {
		ft_stop(&st->ft, FT_STOP_LOAD_ERROR); /* payload unreadable: give up */
		ft_on_read(&st->ft, loaded_framing_spec(), copied_seq, &v);
	} else {
		ft_on_skb(&st->ft, loaded_framing_spec(), &payload, cb->seq, end_seq, fin, copied_seq, &v);
	}
	apply_verdict(sk, st, &v);
}

SEC("struct_ops/dequeue_rcvq")
void BPF_PROG(autolowat_dequeue_rcvq, struct sock *sk)
{
	struct autolowat_sk *st;
	struct ft_verdict v = {};

	if (!bpf_ksym_exists(bpf_tcp_ops_set_rcvlowat))
		return;
	st = tracked_state(sk);
	if (!st)
		return;
	st->counters.read_events++;
	ft_on_read(&st->ft, loaded_framing_spec(), copied_seq_of(sk), &v);
	apply_verdict(sk, st, &v);
}

SEC(".struct_ops")
struct bpf_tcp_ops autolowat_tcp_ops = {
	.enqueue_rcvq = (void *)autolowat_enqueue_rcvq,
	.dequeue_rcvq = (void *)autolowat_dequeue_rcvq,
};
