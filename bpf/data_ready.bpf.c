// Counts sk_data_ready calls on the receiver's sockets: the kernel-side view of how
// often the reader was woken. Sockets are selected by cookie, so traffic of any other
// socket on the host is ignored. With record_arrivals set it also streams, per call,
// how far the receive queue reached (rcv_nxt) and how far the reader had copied, which
// is what the userspace AutoLOWAT model replays.
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "data_ready_event.h"

char LICENSE[] SEC("license") = "GPL";

const volatile bool record_arrivals = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);   /* socket cookie */
	__type(value, __u64); /* sk_data_ready calls */
} watched SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} arrivals SEC(".maps");

SEC("tp_btf/sk_data_ready")
int BPF_PROG(count_data_ready, struct sock *sk)
{
	__u64 cookie = bpf_get_socket_cookie(sk);
	__u64 *calls = bpf_map_lookup_elem(&watched, &cookie);
	struct data_ready_event *event;
	struct tcp_sock *tp;

	if (!calls)
		return 0;
	__sync_fetch_and_add(calls, 1);
	if (!record_arrivals)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0;
	event = bpf_ringbuf_reserve(&arrivals, sizeof(*event), 0);
	if (!event)
		return 0;
	event->cookie = cookie;
	event->time_ns = bpf_ktime_get_ns();
	event->rcv_nxt = tp->rcv_nxt;
	event->copied_seq = tp->copied_seq;
	event->rcvlowat = sk->sk_rcvlowat;
	event->queue_len = sk->sk_receive_queue.qlen;
	bpf_ringbuf_submit(event, 0);
	return 0;
}
