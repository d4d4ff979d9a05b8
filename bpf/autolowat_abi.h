/* What the AutoLOWAT programs and the C++ receiver agree on: the pseudo socket option
 * an application sets to ask for AutoLOWAT, the backends, and the per-socket record
 * the programs keep in sk_storage (readable from userspace by socket fd). */
#ifndef RCVQ_AUTOLOWAT_ABI_H
#define RCVQ_AUTOLOWAT_ABI_H

#include "frame_spec.h"

/* setsockopt(fd, AUTOLOWAT_SOL_BPF, AUTOLOWAT_OPTNAME, &(int){1}, sizeof(int)); the
 * cgroup/setsockopt program consumes it, the kernel never sees the level.
 *
 * Value 1 on a listening socket arms it: every connection accepted from it afterwards
 * starts tracking at BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB, before any byte (TFO SYN data
 * included) can be queued. Value 1 on an established socket starts tracking now; the
 * kernel refuses with EUCLEAN while data is queued, so the application calls it at a
 * quiet point (after an HTTP Upgrade). Any other socket state: EINVAL. Value 0 is a
 * no-op that succeeds, as in the series' selftest: it neither disarms nor disables.
 * Other values, or fewer than sizeof(int) bytes: EINVAL. */
#define AUTOLOWAT_SOL_BPF 0xdeadbeef
#define AUTOLOWAT_OPTNAME 0x8badf00d

enum autolowat_backend {
	AUTOLOWAT_BACKEND_NONE = 0, /* the running kernel has neither interface */
	AUTOLOWAT_BACKEND_SOCKOPS = 1,
	AUTOLOWAT_BACKEND_TCP_OPS = 2,
};

/* Per-socket record in the autolowat_state sk_storage map; starts with the tracker's
 * state (bpf/frame_tracker.h) so one lookup serves both. A listener's record only says
 * `armed`; an accepted socket starts with a copy of it (the map is BPF_F_CLONE). */
struct autolowat_counters {
	ft_u64 skb_events;   /* enqueue hook runs */
	ft_u64 read_events;  /* recvmsg hook runs */
	ft_u64 lowat_sets;   /* kfunc calls that changed rcvlowat */
	ft_u64 descriptors;  /* descriptors parsed */
	ft_u32 last_error;   /* -errno of the last failing kfunc/helper, as positive */
	ft_u32 disabled;     /* the tracker switched itself off */
	ft_u32 armed;        /* children start tracking at passive-established; cleared there */
	ft_u32 enabled;      /* the kernel accepted the RCVQ callback for this socket */
};

#endif /* RCVQ_AUTOLOWAT_ABI_H */
