/* Network softirq time per CPU, shared by net_softirq.bpf.c and C++. */
#ifndef RCVQ_NET_SOFTIRQ_H
#define RCVQ_NET_SOFTIRQ_H

#ifndef __BPF__
#include <linux/types.h>
#endif

struct net_softirq_time {
	__u64 outside_receiver_ns; /* sender, ksoftirqd, idle, ...: not on the receiver thread's stack */
	__u64 entered_ns;          /* start of a softirq in progress outside the receiver, 0 when none */
};

#endif
