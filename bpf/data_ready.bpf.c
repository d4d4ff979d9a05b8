// Counts sk_data_ready calls on the receiver's sockets: the kernel-side view of how
// often the reader was notified, and how many of those notifications could wake it
// (see struct data_ready_counts). The counts live in the watched sockets' local
// storage, which userspace creates by socket fd: a socket without it is any other
// socket on the host, ignored at the cost of one pointer test. With record_arrivals set
// it also streams, per call, how far the receive queue reached (rcv_nxt) and how far the
// reader had copied, which is what the userspace AutoLOWAT model replays.
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "data_ready_event.h"

char LICENSE[] SEC("license") = "GPL";

#define RCV_SHUTDOWN 1 /* include/net/sock.h, not in BTF */

const volatile bool record_arrivals = false;

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int); /* a socket fd, from userspace */
	__type(value, struct data_ready_counts);
} watched SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} arrivals SEC(".maps");

SEC("tp_btf/sk_data_ready")
int BPF_PROG(count_data_ready, struct sock *sk)
{
	/* No create flag: only the sockets userspace watches have counts. */
	struct data_ready_counts *counts = bpf_sk_storage_get(&watched, sk, 0, 0);
	struct data_ready_event *event;
	struct tcp_sock *tp;
	bool shut_down;
	__u64 copied;

	if (!counts)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0;
	/* bytes_received counts from the first data byte, so this is the reader's stream
	 * offset whatever the initial sequence number was. */
	copied = tp->bytes_received - (__u32)(tp->rcv_nxt - tp->copied_seq);
	shut_down = sk->sk_shutdown & RCV_SHUTDOWN;

	bpf_spin_lock(&counts->lock);
	if (counts->notifications == 0 || copied != counts->copied_bytes) {
		bool edge = !shut_down;

		counts->copied_bytes = copied;
		counts->epoch_notifications = 0;
		counts->epoch_wakeup_edges = edge;
		counts->wakeup_edges += edge;
	}
	counts->notifications++;
	counts->epoch_notifications++;
	bpf_spin_unlock(&counts->lock);

	if (!record_arrivals)
		return 0;
	event = bpf_ringbuf_reserve(&arrivals, sizeof(*event), 0);
	if (!event)
		return 0;
	event->cookie = bpf_get_socket_cookie(sk);
	event->time_ns = bpf_ktime_get_ns();
	event->rcv_nxt = tp->rcv_nxt;
	event->copied_seq = tp->copied_seq;
	event->rcvlowat = sk->sk_rcvlowat;
	event->queue_len = sk->sk_receive_queue.qlen;
	bpf_ringbuf_submit(event, 0);
	return 0;
}
