/* What data_ready.bpf.c shares with C++: per-socket counts and, on request, one event
 * per sk_data_ready call. */
#ifndef RCVQ_DATA_READY_EVENT_H
#define RCVQ_DATA_READY_EVENT_H

#ifndef __BPF__
#include <linux/bpf.h>
#include <linux/types.h>
#endif

/* sk_data_ready calls on one watched socket. A notification is every call; a wakeup
 * edge is a call made after the reader copied data since the previous call (the first
 * call counts as one), never one after RCV_SHUTDOWN. epoll merges the notifications
 * between two reads into one wakeup, so edges follow the reader's wakeups while the
 * other notifications were coalesced (or announced the end of the stream). The calls
 * since the reader's last copy are kept apart so a reader can cut its window at its
 * own reads. */
struct data_ready_counts {
	struct bpf_spin_lock lock; /* userspace reads the counts in one piece (BPF_F_LOCK) */
	__u32 epoch_wakeup_edges;  /* 0 or 1: the calls since the last copy began with an edge */
	__u64 notifications;
	__u64 wakeup_edges;
	__u64 epoch_notifications; /* calls since the reader's last copy */
	__u64 copied_bytes;        /* stream bytes the reader had copied at the last call */
};

struct data_ready_event {
	__u64 cookie;
	__u64 time_ns;    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 rcv_nxt;    /* receive queue reaches up to here */
	__u32 copied_seq; /* the reader has consumed up to here */
	__u32 rcvlowat;
	__u32 queue_len;  /* skbs on sk_receive_queue */
};

#endif
