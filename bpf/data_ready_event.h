/* One sk_data_ready call on a watched socket, shared by data_ready.bpf.c and C++. */
#ifndef RCVQ_DATA_READY_EVENT_H
#define RCVQ_DATA_READY_EVENT_H

#ifndef __BPF__
#include <linux/types.h>
#endif

struct data_ready_event {
	__u64 cookie;
	__u64 time_ns;    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 rcv_nxt;    /* receive queue reaches up to here */
	__u32 copied_seq; /* the reader has consumed up to here */
	__u32 rcvlowat;
	__u32 queue_len;  /* skbs on sk_receive_queue */
};

#endif
