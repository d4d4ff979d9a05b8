/* Per-socket AutoLOWAT state, one sk_storage map shared by both backends: the
 * cgroup/setsockopt program in autolowat.bpf.c creates the entry, and whichever hook
 * the kernel has (sock_ops or struct bpf_tcp_ops) updates it. BPF_F_CLONE: a socket
 * accepted from a listener gets a copy of the listener's entry (sk_clone_lock), which
 * is how an armed listener reaches its children. */
#ifndef RCVQ_AUTOLOWAT_STATE_H
#define RCVQ_AUTOLOWAT_STATE_H

struct autolowat_sk {
	struct ft_state ft;
	struct autolowat_counters counters;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct autolowat_sk);
} autolowat_state SEC(".maps");

#endif
