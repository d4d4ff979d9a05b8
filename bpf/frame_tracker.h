/* The AutoLOWAT frame-tracking core, shared verbatim by the BPF programs (both kernel
 * interfaces and the BPF_PROG_TEST_RUN harness) and the C++ model.
 *
 * It follows a length-prefixed byte stream by TCP sequence number, one queued skb at
 * a time, and says which SO_RCVLOWAT makes the reader wake exactly when a whole frame
 * is readable (see shared/autolowat.md for the rule and the self-disable cases).
 *
 * The includer provides the payload reader before including this header:
 *
 *     #define FT_LOAD_BYTES(reader, offset, dst, len)  <expression, 0 or -errno>
 *
 * `offset` is relative to the skb's first sequence number, `dst` has room for `len`
 * bytes (1..FT_MAX_PREFIX). BPF programs read with bpf_skb_load_bytes or a skb dynptr;
 * the model reads from memory.
 *
 * Verifier notes: every loop has a constant bound, the partial-descriptor buffer is
 * twice the largest prefix so that "position < FT_MAX_PREFIX, length <= FT_MAX_PREFIX"
 * is provably inside it, and the spec is validated before any index derives from it.
 */
#ifndef RCVQ_FRAME_TRACKER_H
#define RCVQ_FRAME_TRACKER_H

#include "frame_spec.h"

#ifndef FT_LOAD_BYTES
#error "define FT_LOAD_BYTES(reader, offset, dst, len) before including frame_tracker.h"
#endif

#ifdef __BPF__
#define FT_INLINE static __always_inline
/* Makes the compiler keep `var` in the register the preceding bound checks were made
 * on; otherwise clang may hand the helper an unchecked copy the verifier rejects. */
#define FT_BARRIER_VAR(var) asm volatile("" : "+r"(var))
typedef __s32 ft_s32;
#else
#define FT_INLINE static inline
#define FT_BARRIER_VAR(var) ((void)0)
typedef int32_t ft_s32;
#endif

/* The hook gives up after this many descriptors in one skb: a bound for the verifier
 * and for the time spent in the softirq. */
#define FT_MAX_DESCRIPTORS_PER_SKB 100
#define FT_INT_MAX 0x7fffffffU

/* Why the tracker stopped; FT_RUNNING while it works. */
enum ft_stop_reason {
	FT_RUNNING = 0,
	FT_STOP_FIN = 1,
	FT_STOP_LOAD_ERROR = 2,
	FT_STOP_FRAME_TOO_LONG = 3,
	FT_STOP_TOO_MANY_DESCRIPTORS = 4,
	FT_STOP_MALFORMED_DESCRIPTOR = 5, /* declared length shorter than the prefix */
	FT_STOP_BAD_SPEC = 6,
	FT_STOP_SEQUENCE_GAP = 7,         /* an skb starts past the bytes seen so far */
};

#define FT_HAVE_FRAME_LEN 1U /* the current descriptor is complete, frame_end_seq valid */

/* Per-socket state; lives in sk_storage in the kernel. */
struct ft_state {
	ft_u32 desc_seq;      /* where the current frame (its descriptor) starts */
	ft_u32 frame_end_seq; /* one past the current frame's last byte */
	ft_u32 partial_len;   /* descriptor bytes collected so far */
	ft_u32 flags;         /* FT_HAVE_FRAME_LEN */
	ft_u32 stop_reason;   /* enum ft_stop_reason */
	ft_u32 lowat;         /* last value asked for */
	ft_u8 partial[2 * FT_MAX_PREFIX];
};

/* What the caller must do after an event. */
struct ft_verdict {
	ft_u32 lowat;      /* rcvlowat to set (1 after a stop) */
	ft_u32 disable;    /* clear the RCVQ callback flag */
	ft_u32 stop_reason;
	ft_u32 descriptors; /* descriptors completed in this skb */
};

/* Wraparound-safe sequence order, as TCP itself compares sequence numbers. */
FT_INLINE int ft_before(ft_u32 a, ft_u32 b)
{
	return (ft_s32)(a - b) < 0;
}

FT_INLINE int ft_after(ft_u32 a, ft_u32 b)
{
	return ft_before(b, a);
}

FT_INLINE int ft_spec_ok(const struct ft_spec *spec)
{
	ft_u32 prefix = spec->prefix_size;

	return prefix >= 1 && prefix <= FT_MAX_PREFIX && spec->nfields >= 1 &&
	       spec->nfields <= FT_MAX_FIELDS;
}

/* Tracking starts at a quiet point: nothing unread, the next byte starts the stream
 * (after an optional unframed preamble, tracked as if it were one frame). */
FT_INLINE void ft_init(struct ft_state *st, const struct ft_spec *spec, ft_u32 copied_seq)
{
	ft_u32 i;

	st->desc_seq = copied_seq + spec->preamble;
	st->frame_end_seq = st->desc_seq;
	st->partial_len = 0;
	st->flags = 0;
	st->stop_reason = ft_spec_ok(spec) ? FT_RUNNING : FT_STOP_BAD_SPEC;
	st->lowat = 1;
	for (i = 0; i < 2 * FT_MAX_PREFIX; i++)
		st->partial[i] = 0;
}

/* The rcvlowat rule: complete frames unread -> exactly them, so the reader wakes for
 * them; descriptor incomplete -> up to the end of the descriptor; otherwise up to the
 * end of the frame. */
FT_INLINE ft_u32 ft_lowat(const struct ft_state *st, const struct ft_spec *spec,
			  ft_u32 copied_seq)
{
	ft_u32 target;

	if (st->stop_reason != FT_RUNNING)
		return 1;
	if (ft_after(st->desc_seq, copied_seq))
		target = st->desc_seq;
	else if (st->flags & FT_HAVE_FRAME_LEN)
		target = st->frame_end_seq;
	else
		target = st->desc_seq + spec->prefix_size;
	if (!ft_after(target, copied_seq))
		return 1;
	if (target - copied_seq > FT_INT_MAX)
		return FT_INT_MAX;
	return target - copied_seq;
}

FT_INLINE void ft_stop(struct ft_state *st, ft_u32 reason)
{
	st->stop_reason = reason;
	st->flags = 0;
	st->partial_len = 0;
}

FT_INLINE void ft_fill_verdict(struct ft_state *st, const struct ft_spec *spec,
			       ft_u32 copied_seq, ft_u32 descriptors, struct ft_verdict *out)
{
	st->lowat = ft_lowat(st, spec, copied_seq);
	out->lowat = st->lowat;
	out->disable = st->stop_reason != FT_RUNNING;
	out->stop_reason = st->stop_reason;
	out->descriptors = descriptors;
}

/* Event: an skb covering [seq, end_seq) was queued to the receive queue (in order,
 * possibly overlapping bytes already seen). `copied_seq` is the reader's position. */
FT_INLINE void ft_on_skb(struct ft_state *st, const struct ft_spec *spec, void *reader,
			 ft_u32 seq, ft_u32 end_seq, int fin, ft_u32 copied_seq,
			 struct ft_verdict *out)
{
	ft_u32 descriptors = 0;
	ft_u32 i;

	(void)reader; /* includers that only need the state layout load nothing */
	if (st->stop_reason != FT_RUNNING)
		goto done;
	if (!ft_spec_ok(spec)) {
		ft_stop(st, FT_STOP_BAD_SPEC);
		goto done;
	}

	/* One pass per frame: collect its descriptor unless already known, then step
	 * past the frame if it ends inside this skb. The first pass may only finish the
	 * frame an earlier skb started, hence the bound. */
	for (i = 0; i < FT_MAX_DESCRIPTORS_PER_SKB + 2; i++) {
		ft_u32 prefix = spec->prefix_size;
		ft_u32 cursor, want, have, pos;
		ft_u64 n;
		ft_u64 len;

		if (!(st->flags & FT_HAVE_FRAME_LEN)) {
			cursor = st->desc_seq + st->partial_len;
			if (!ft_before(cursor, end_seq))
				break; /* no descriptor byte in this skb (or still the preamble) */
			if (ft_after(seq, cursor)) {
				ft_stop(st, FT_STOP_SEQUENCE_GAP);
				break;
			}
			if (descriptors >= FT_MAX_DESCRIPTORS_PER_SKB) {
				ft_stop(st, FT_STOP_TOO_MANY_DESCRIPTORS);
				break;
			}
			pos = st->partial_len;
			if (pos >= prefix || pos >= FT_MAX_PREFIX) {
				ft_stop(st, FT_STOP_BAD_SPEC);
				break;
			}
			want = prefix - pos;
			have = end_seq - cursor;
			/* 64 bits wide: the helper's length is a u32, so clang would pass the
			 * register without the zero extension the bound check was made on. */
			n = want < have ? want : have;
			FT_BARRIER_VAR(n);
			if (n < 1 || n > FT_MAX_PREFIX) {
				ft_stop(st, FT_STOP_BAD_SPEC);
				break;
			}
			if (FT_LOAD_BYTES(reader, cursor - seq,
					  &st->partial[pos & (FT_MAX_PREFIX - 1)], n)) {
				ft_stop(st, FT_STOP_LOAD_ERROR);
				break;
			}
			st->partial_len = pos + (ft_u32)n;
			if (st->partial_len < prefix)
				break; /* the descriptor continues in a later skb */

			descriptors++;
			len = ft_frame_len(spec, st->partial);
			if (len == 0) {
				ft_stop(st, FT_STOP_MALFORMED_DESCRIPTOR);
				break;
			}
			if (len > FT_INT_MAX) {
				ft_stop(st, FT_STOP_FRAME_TOO_LONG);
				break;
			}
			st->frame_end_seq = st->desc_seq + (ft_u32)len;
			st->flags = FT_HAVE_FRAME_LEN;
		}
		if (ft_after(st->frame_end_seq, end_seq))
			break; /* the frame goes on in a later skb */
		st->desc_seq = st->frame_end_seq;
		st->flags = 0;
		st->partial_len = 0;
	}

	/* A FIN ends framing for good; the reader must see the tail and EOF at once. */
	if (fin && st->stop_reason == FT_RUNNING)
		ft_stop(st, FT_STOP_FIN);
done:
	ft_fill_verdict(st, spec, copied_seq, descriptors, out);
}

/* Event: recvmsg() finished and the reader is now at `copied_seq`. */
FT_INLINE void ft_on_read(struct ft_state *st, const struct ft_spec *spec, ft_u32 copied_seq,
			  struct ft_verdict *out)
{
	ft_fill_verdict(st, spec, copied_seq, 0, out);
}

#endif /* RCVQ_FRAME_TRACKER_H */
