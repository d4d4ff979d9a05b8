// SPDX-License-Identifier: GPL-2.0
/* AutoLOWAT through the v3 interface: a sock_ops program on BPF_SOCK_OPS_RCVQ_CB runs
 * the frame tracker on every queued skb and after every recvmsg, and sets rcvlowat
 * with the bpf_sock_ops_tcp_set_rcvlowat kfunc. A cgroup/setsockopt program turns it
 * on per socket when the application sets the pseudo option; it also serves the
 * struct_ops revision (autolowat_tcp_ops.bpf.c), which shares the state map.
 *
 * The object must load on kernels without either interface. The sock_ops op and cb
 * flag are members of an anonymous uapi enum, which CO-RE cannot relocate (it finds
 * candidates by type name), so userspace reads their values from the kernel's BTF and
 * passes them as read-only constants; 0 means "absent" and makes every hook path dead
 * code the verifier never walks. The kfuncs are __weak and checked with
 * bpf_ksym_exists; the struct_ops type with bpf_core_type_exists.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "autolowat_abi.h"

#define FT_LOAD_BYTES(reader, offset, dst, len) \
	bpf_skb_load_bytes((reader), (offset), (dst), (len))
#include "frame_tracker.h"
#include "loaded_framing_spec.h"

char LICENSE[] SEC("license") = "GPL";

#define SOL_TCP 6
#define EOPNOTSUPP 95
#define EINVAL 22
#define TCPHDR_FIN 0x01

/* libbpf 1.1 predates these two helpers. */
#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) ({ _Static_assert(!__builtin_constant_p(!!sym), #sym " must be __weak"); !!sym; })
#endif
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define rcvq_core_cast(ptr, type) ((type *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))

/* Added by the AutoLOWAT series; absent on kernels without it. */
extern int bpf_sock_ops_tcp_set_rcvlowat(struct bpf_sock_ops_kern *ctx, int val) __weak __ksym;
extern int bpf_tcp_ops_set_flags(struct tcp_sock *tp, __u32 enable, __u32 disable) __weak __ksym;

/* Only its existence matters here: the struct_ops revision's type. */
struct bpf_tcp_ops___local {
	void (*enqueue_rcvq)(struct sock *sk, struct sk_buff *skb);
};

/* Load-time constants, filled by the receiver from the scenario and the kernel's BTF. */
const volatile __u32 backend = AUTOLOWAT_BACKEND_NONE;
const volatile __u32 rcvq_cb_op = 0;       /* BPF_SOCK_OPS_RCVQ_CB, 0 = absent */
const volatile __u32 rcvq_cb_flag = 0;     /* BPF_SOCK_OPS_RCVQ_CB_FLAG */
const volatile __u32 tcp_ops_flag_rcvq = 0; /* BPF_TCP_OPS_FLAG_RCVQ */

#include "autolowat_state.h"

/* How often the setsockopt program ran and how it ended, for the tests and run.json. */
__u64 enable_requests = 0;
__u64 enable_refusals = 0;
__s32 last_enable_error = 0;


static __always_inline int sockops_hook_present(void)
{
	return backend == AUTOLOWAT_BACKEND_SOCKOPS && rcvq_cb_op != 0 && rcvq_cb_flag != 0 &&
	       bpf_ksym_exists(bpf_sock_ops_tcp_set_rcvlowat);
}

static __always_inline void apply_verdict(struct bpf_sock_ops *skops,
					  struct bpf_sock_ops_kern *kctx,
					  struct autolowat_sk *st, const struct ft_verdict *v,
					  __u32 previous_lowat)
{
	int err;

	st->counters.descriptors += v->descriptors;
	/* From the recvmsg hook the kfunc wakes the reader, so only call it on a change. */
	if (v->lowat != previous_lowat) {
		err = bpf_sock_ops_tcp_set_rcvlowat(kctx, (int)v->lowat);
		if (err)
			st->counters.last_error = -err;
		else
			st->counters.lowat_sets++;
	}
	if (v->disable && !st->counters.disabled) {
		st->counters.disabled = 1;
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags & ~rcvq_cb_flag);
	}
}

SEC("sockops")
int autolowat_sockops(struct bpf_sock_ops *skops)
{
	struct bpf_sock_ops_kern *kctx;
	struct autolowat_sk *st;
	struct ft_verdict v = {};
	struct tcp_sock *tp;
	struct sk_buff *skb;
	__u32 copied_seq, previous;

	if (!sockops_hook_present() || skops->op != rcvq_cb_op || !skops->sk)
		return 1;
	st = bpf_sk_storage_get(&autolowat_state, skops->sk, 0, 0);
	if (!st)
		return 1;
	kctx = bpf_cast_to_kern_ctx(skops);
	tp = rcvq_core_cast(kctx->sk, struct tcp_sock);
	copied_seq = tp->copied_seq;
	previous = st->ft.lowat;
	skb = kctx->skb;
	if (skb) {
		struct tcp_skb_cb *cb = rcvq_core_cast(skb->cb, struct tcp_skb_cb);
		int fin = cb->tcp_flags & TCPHDR_FIN;
		__u32 seq = cb->seq;
		/* end_seq counts the FIN as one sequence number; the payload does not. */
		__u32 end_seq = cb->end_seq - (fin ? 1 : 0);

		st->counters.skb_events++;
		ft_on_skb(&st->ft, loaded_framing_spec(), skops, seq, end_seq, fin, copied_seq, &v);
		apply_verdict(skops, kctx, st, &v, previous);
	} else {
		st->counters.read_events++;
		ft_on_read(&st->ft, loaded_framing_spec(), copied_seq, &v);
		apply_verdict(skops, kctx, st, &v, previous);
	}
	return 1;
}

/* The application asks for AutoLOWAT at a quiet point (right after accept, or after an
 * HTTP Upgrade): create the state at copied_seq and switch the hook on. The kernel
 * refuses with EUCLEAN when data is already queued; that errno reaches the caller. */
static __always_inline int enable_sockops(struct bpf_sockopt *ctx)
{
	int flags = 0, err;

	if (bpf_getsockopt(ctx, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, &flags, sizeof(flags)))
		flags = 0;
	flags |= rcvq_cb_flag;
	err = bpf_setsockopt(ctx, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, &flags, sizeof(flags));
	return err;
}

static __always_inline int enable_tcp_ops(struct bpf_sockopt *ctx)
{
	struct bpf_sockopt_kern *kctx = bpf_cast_to_kern_ctx(ctx);

	return bpf_tcp_ops_set_flags((struct tcp_sock *)kctx->sk, tcp_ops_flag_rcvq, 0);
}

SEC("cgroup/setsockopt")
int autolowat_enable(struct bpf_sockopt *ctx)
{
	struct bpf_sockopt_kern *kctx;
	struct autolowat_sk *st;
	__u32 copied_seq;
	int *value = ctx->optval;
	int err = -EOPNOTSUPP;

	if (ctx->level != (int)AUTOLOWAT_SOL_BPF || ctx->optname != (int)AUTOLOWAT_OPTNAME)
		return 1; /* not ours: the kernel handles it */

	__sync_fetch_and_add(&enable_requests, 1);
	ctx->optlen = -1; /* consumed here, whatever the outcome */
	if ((void *)(value + 1) > ctx->optval_end || *value != 1) {
		err = -EINVAL;
		goto refuse;
	}
	if (!ctx->sk || !bpf_tcp_sock(ctx->sk)) {
		err = -EINVAL; /* not a TCP socket */
		goto refuse;
	}
	kctx = bpf_cast_to_kern_ctx(ctx);
	copied_seq = rcvq_core_cast(kctx->sk, struct tcp_sock)->copied_seq;

	if (backend == AUTOLOWAT_BACKEND_SOCKOPS && rcvq_cb_op && rcvq_cb_flag &&
	    bpf_ksym_exists(bpf_sock_ops_tcp_set_rcvlowat)) {
		st = bpf_sk_storage_get(&autolowat_state, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			err = -EINVAL;
			goto refuse;
		}
		ft_init(&st->ft, loaded_framing_spec(), copied_seq);
		err = enable_sockops(ctx);
	} else if (backend == AUTOLOWAT_BACKEND_TCP_OPS && tcp_ops_flag_rcvq &&
		   bpf_core_type_exists(struct bpf_tcp_ops___local) &&
		   bpf_ksym_exists(bpf_tcp_ops_set_flags)) {
		st = bpf_sk_storage_get(&autolowat_state, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			err = -EINVAL;
			goto refuse;
		}
		ft_init(&st->ft, loaded_framing_spec(), copied_seq);
		err = enable_tcp_ops(ctx);
	}
	if (!err)
		return 1;
	bpf_sk_storage_delete(&autolowat_state, ctx->sk);
refuse:
	__sync_fetch_and_add(&enable_refusals, 1);
	last_enable_error = err;
	bpf_set_retval(err);
	return 0;
}
