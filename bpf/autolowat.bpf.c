// SPDX-License-Identifier: GPL-2.0
/* AutoLOWAT through the v3 interface: a sock_ops program on BPF_SOCK_OPS_RCVQ_CB runs
 * the frame tracker on every queued skb and after every recvmsg, and sets rcvlowat
 * with the bpf_sock_ops_tcp_set_rcvlowat kfunc. A cgroup/setsockopt program turns it
 * on when the application sets the pseudo option (autolowat_abi.h): on a listener it
 * arms the connections to come, which the sock_ops program switches on at
 * passive-established; on an established socket it switches the hook on at once. It
 * also serves the struct_ops revision (autolowat_tcp_ops.bpf.c), which shares the
 * state map.
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

#define SOL_SOCKET 1
#define SO_RCVLOWAT 18
#define SOL_TCP 6
#define EINVAL 22
#define ENOMEM 12
#define EOPNOTSUPP 95
#define TCPHDR_FIN 0x01

/* AUTOLOWAT_VERIFY_HOOKS_LIVE builds this file for host tests only (the object
 * autolowat_hooks_live.bpf.o; tests/integration/autolowat_hooks_live_test.cpp): no
 * kernel here has the hook, so these three names, the only ones that exist solely on
 * a hook kernel, are swapped for ones that exist here. The kfunc counts as present and
 * becomes a stub returning an unknown value; bpf_skb_load_bytes, not offered to
 * sock_ops before the series, becomes bpf_getsockopt, a sock_ops helper with the same
 * argument types (ctx, any scalar, uninitialised memory it writes, constant size).
 * Both sit on the RCVQ_CB path only, so the enabling paths run there unchanged. */
#ifdef AUTOLOWAT_VERIFY_HOOKS_LIVE
#define sockops_kfunc_present() 1
#define sockops_set_rcvlowat(kctx, val) ((void)(kctx), (void)(val), (int)bpf_get_prandom_u32())
#define skops_load_bytes(skops, offset, dst, len) bpf_getsockopt((skops), SOL_TCP, (offset), (dst), (len))
#else
#define sockops_kfunc_present() bpf_ksym_exists(bpf_sock_ops_tcp_set_rcvlowat)
#define sockops_set_rcvlowat bpf_sock_ops_tcp_set_rcvlowat
#define skops_load_bytes bpf_skb_load_bytes
#endif

#define FT_LOAD_BYTES(reader, offset, dst, len) skops_load_bytes((reader), (offset), (dst), (len))
#include "frame_tracker.h"
#include "loaded_framing_spec.h"

char LICENSE[] SEC("license") = "GPL";

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
	       sockops_kfunc_present();
}

static __always_inline int tcp_ops_hook_present(void)
{
	return backend == AUTOLOWAT_BACKEND_TCP_OPS && tcp_ops_flag_rcvq != 0 &&
	       bpf_core_type_exists(struct bpf_tcp_ops___local) &&
	       bpf_ksym_exists(bpf_tcp_ops_set_flags);
}

static __always_inline __u32 copied_seq_of(struct sock *sk)
{
	return rcvq_core_cast(sk, struct tcp_sock)->copied_seq;
}

/* A fresh tracking session in place: a record is never deleted while its socket may
 * still have the callback flag, so the hook always finds state to act on. */
static __always_inline void start_tracking(struct autolowat_sk *st, __u32 copied_seq)
{
	ft_init(&st->ft, loaded_framing_spec(), copied_seq);
	__builtin_memset(&st->counters, 0, sizeof(st->counters));
}

/* Back to the kernel's default behaviour: no callback, wake on every byte. */
static __always_inline void switch_off_sockops(struct bpf_sock_ops *skops,
					       struct bpf_sock_ops_kern *kctx)
{
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags & ~rcvq_cb_flag);
	sockops_set_rcvlowat(kctx, 1);
}

static __always_inline void apply_verdict(struct bpf_sock_ops *skops,
					  struct bpf_sock_ops_kern *kctx,
					  struct autolowat_sk *st, const struct ft_verdict *v)
{
	int err;

	st->counters.descriptors += v->descriptors;
	/* From the recvmsg hook the kfunc wakes the reader, so only call it on a change,
	 * judged by the socket's own value: the application or the kernel's cap may have
	 * changed it since the tracker last asked. */
	if ((int)v->lowat != kctx->sk->sk_rcvlowat) {
		err = sockops_set_rcvlowat(kctx, (int)v->lowat);
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

/* BPF_SOCK_OPS_RCVQ_CB: an skb was queued (kctx->skb) or recvmsg finished (NULL). */
static __always_inline void track(struct bpf_sock_ops *skops, struct bpf_sock *sk)
{
	struct bpf_sock_ops_kern *kctx = bpf_cast_to_kern_ctx(skops);
	struct autolowat_sk *st = bpf_sk_storage_get(&autolowat_state, sk, 0, 0);
	struct ft_verdict v = {};
	struct sk_buff *skb;
	__u32 copied_seq;

	if (!st || !st->counters.enabled) {
		/* The flag is on with nothing tracking: a frame-sized lowat left behind
		 * would stall the reader. */
		switch_off_sockops(skops, kctx);
		return;
	}
	copied_seq = copied_seq_of(kctx->sk);
	skb = kctx->skb;
	if (skb) {
		struct tcp_skb_cb *cb = rcvq_core_cast(skb->cb, struct tcp_skb_cb);
		int fin = cb->tcp_flags & TCPHDR_FIN;
		__u32 seq = cb->seq;
		/* end_seq counts the FIN as one sequence number; the payload does not. */
		__u32 end_seq = cb->end_seq - (fin ? 1 : 0);

		st->counters.skb_events++;
		ft_on_skb(&st->ft, loaded_framing_spec(), skops, seq, end_seq, fin, copied_seq, &v);
	} else {
		st->counters.read_events++;
		ft_on_read(&st->ft, loaded_framing_spec(), copied_seq, &v);
	}
	apply_verdict(skops, kctx, st, &v);
}

/* BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB on a child of an armed listener, whose record it
 * inherited. This runs before any payload is queued, TFO SYN data included
 * (tcp_fastopen_create_child calls it before tcp_fastopen_add_skb), so the queue is
 * empty and every byte will pass through the hook. */
static __always_inline void start_inherited(struct bpf_sock_ops *skops, struct bpf_sock *sk)
{
	struct autolowat_sk *st = bpf_sk_storage_get(&autolowat_state, sk, 0, 0);
	struct bpf_sock_ops_kern *kctx;
	int err;

	if (!st || !st->counters.armed)
		return;
	kctx = bpf_cast_to_kern_ctx(skops);
	start_tracking(st, copied_seq_of(kctx->sk));
	err = bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | rcvq_cb_flag);
	if (err == 0)
		st->counters.enabled = 1;
	else /* a positive result holds the flag bits this kernel does not know */
		st->counters.last_error = err < 0 ? -err : EOPNOTSUPP;
}

SEC("sockops")
int autolowat_sockops(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk;

	if (!sockops_hook_present())
		return 1;
	/* Loaded once: every load of skops->sk is a new pointer that may be NULL. */
	sk = skops->sk;
	if (!sk)
		return 1;
	if (skops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		start_inherited(skops, sk);
	else if (skops->op == rcvq_cb_op)
		track(skops, sk);
	return 1;
}

/* Arming a listener only marks its record; its children inherit the mark. */
static __always_inline int arm_listener(struct bpf_sock *sk)
{
	struct autolowat_sk *st;

	if (backend != AUTOLOWAT_BACKEND_SOCKOPS)
		return -EOPNOTSUPP; /* our struct_ops has no passive_established member */
	st = bpf_sk_storage_get(&autolowat_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return -ENOMEM;
	st->counters.armed = 1;
	return 0;
}

static __always_inline int set_cb_flags(struct bpf_sock *sk, int flags)
{
	return bpf_setsockopt(sk, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, &flags, sizeof(flags));
}

/* After a failed re-enable: the earlier session's frame-sized lowat must not stay. */
static __always_inline void reset_rcvlowat(struct bpf_sock *sk)
{
	int lowat = 1;

	bpf_setsockopt(sk, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
}

/* An established socket at a quiet point. The kernel refuses the flag with EUCLEAN
 * while data is queued; that errno reaches the caller. */
static __always_inline int enable_established_sockops(struct bpf_sockopt *ctx, struct bpf_sock *sk)
{
	struct bpf_sockopt_kern *kctx = bpf_cast_to_kern_ctx(ctx);
	struct autolowat_sk *st;
	int flags, err;

	/* The other callback flags are written back as read; unread, they would be lost. */
	err = bpf_getsockopt(sk, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, &flags, sizeof(flags));
	if (err)
		return err;
	st = bpf_sk_storage_get(&autolowat_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return -ENOMEM;
	start_tracking(st, copied_seq_of(kctx->sk));
	err = set_cb_flags(sk, flags | rcvq_cb_flag);
	if (err == 0) {
		st->counters.enabled = 1;
		return 0;
	}
	st->counters.last_error = -err;
	if (flags & rcvq_cb_flag) {
		/* On from an earlier enable, whose state was just restarted: the hook must
		 * not go on with it, nor leave that session's lowat in place. */
		set_cb_flags(sk, flags & ~rcvq_cb_flag);
		reset_rcvlowat(sk);
	}
	return err;
}

static __always_inline int enable_established_tcp_ops(struct bpf_sockopt *ctx, struct bpf_sock *sk)
{
	struct bpf_sockopt_kern *kctx = bpf_cast_to_kern_ctx(ctx);
	/* The kfunc needs a trusted struct tcp_sock. bpf_skc_to_tcp_sock is not offered to
	 * cgroup/setsockopt programs; bpf_tcp_sock is, and the verifier hands its result
	 * (PTR_TO_TCP_SOCK) to a kfunc as the kernel's struct tcp_sock, trusted: the C
	 * cast only tells the compiler so. */
	struct tcp_sock *tp = (struct tcp_sock *)bpf_tcp_sock(sk);
	struct autolowat_sk *st;
	int was_on, err;

	if (!tp)
		return -EINVAL;
	st = bpf_sk_storage_get(&autolowat_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return -ENOMEM;
	was_on = st->counters.enabled && !st->counters.disabled;
	start_tracking(st, copied_seq_of(kctx->sk));
	err = bpf_tcp_ops_set_flags(tp, tcp_ops_flag_rcvq, 0);
	if (err == 0) {
		st->counters.enabled = 1;
		return 0;
	}
	st->counters.last_error = -err;
	if (was_on) {
		bpf_tcp_ops_set_flags(tp, 0, tcp_ops_flag_rcvq);
		reset_rcvlowat(sk);
	}
	return err;
}

SEC("cgroup/setsockopt")
int autolowat_enable(struct bpf_sockopt *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	int *value = ctx->optval;
	int err;

	if (ctx->level != (int)AUTOLOWAT_SOL_BPF || ctx->optname != (int)AUTOLOWAT_OPTNAME)
		return 1; /* not ours: the kernel handles it */

	__sync_fetch_and_add(&enable_requests, 1);
	ctx->optlen = -1; /* consumed here, whatever the outcome */
	if ((void *)(value + 1) > ctx->optval_end || (*value != 0 && *value != 1)) {
		err = -EINVAL;
		goto refuse;
	}
	if (*value == 0)
		return 1;
	if (!sk || !bpf_tcp_sock(sk)) {
		err = -EINVAL; /* not a TCP socket */
		goto refuse;
	}

	if (!sockops_hook_present() && !tcp_ops_hook_present())
		err = -EOPNOTSUPP;
	else if (sk->state == TCP_LISTEN)
		err = arm_listener(sk);
	else if (sk->state != TCP_ESTABLISHED)
		err = -EINVAL; /* unconnected, or closing: no quiet point to start from */
	else if (sockops_hook_present())
		err = enable_established_sockops(ctx, sk);
	else
		err = enable_established_tcp_ops(ctx, sk);
	if (!err)
		return 1;
refuse:
	__sync_fetch_and_add(&enable_refusals, 1);
	last_enable_error = err;
	bpf_set_retval(err);
	return 0;
}
