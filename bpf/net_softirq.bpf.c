// Time spent in the network softirqs (NET_RX, NET_TX) on every CPU outside the receiver
// thread's context. On loopback and veth the receive side of TCP (and a sockmap stream
// parser) runs there, mostly on the sender's CPU and stack, where the receiver thread's
// own CPU time never sees it; what runs on the receiver's stack its task-clock has.
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "net_softirq.h"

char LICENSE[] SEC("license") = "GPL";

volatile __u32 receiver_tid = 0; /* set by userspace for each repetition; 0 is the idle task */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct net_softirq_time);
} net_time SEC(".maps");

static bool is_network(unsigned int vec)
{
	return vec == NET_RX_SOFTIRQ || vec == NET_TX_SOFTIRQ;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(net_softirq_entry, unsigned int vec)
{
	__u32 key = 0;
	struct net_softirq_time *t;

	if (!is_network(vec))
		return 0;
	/* Softirqs do not nest on a CPU, and the current task is the one interrupted. */
	if (receiver_tid && (__u32)bpf_get_current_pid_tgid() == receiver_tid)
		return 0;
	t = bpf_map_lookup_elem(&net_time, &key);
	if (t)
		t->entered_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(net_softirq_exit, unsigned int vec)
{
	__u32 key = 0;
	struct net_softirq_time *t;

	if (!is_network(vec))
		return 0;
	t = bpf_map_lookup_elem(&net_time, &key);
	/* The clock only for a softirq that is counted: on the receiver's own stack the
	 * read would be charged to the very CPU time being measured. */
	if (!t || !t->entered_ns)
		return 0;
	t->outside_receiver_ns += bpf_ktime_get_ns() - t->entered_ns;
	t->entered_ns = 0;
	return 0;
}
