#include "probes/net_softirq.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/errors.hpp"
#include "net_softirq.h"
#include "net_softirq.skel.h"

namespace rcvq {

NetSoftirqProbe::NetSoftirqProbe() {
  struct net_softirq* skel = net_softirq__open_and_load();
  if (!skel) {
    reason_ = fmt::format("the kernel refused the tp_btf/softirq_entry and softirq_exit programs: {}",
                          std::strerror(errno));
    return;
  }
  if (int err = net_softirq__attach(skel)) {
    reason_ = fmt::format("cannot attach to tracepoints irq:softirq_entry/exit: {}", std::strerror(-err));
    net_softirq__destroy(skel);
    return;
  }
  skel_ = skel;
}

NetSoftirqProbe::~NetSoftirqProbe() {
  if (skel_) net_softirq__destroy(skel_);
}

void NetSoftirqProbe::set_receiver_thread(pid_t tid) {
  if (skel_) skel_->bss->receiver_tid = uint32_t(tid);
}

int64_t NetSoftirqProbe::outside_receiver_ns() const {
  if (!skel_) return 0;
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) throw RunError(fmt::format("cannot count the possible CPUs: {}", std::strerror(-cpus)));
  std::vector<net_softirq_time> per_cpu(static_cast<size_t>(cpus));
  const uint32_t key = 0;
  if (bpf_map__lookup_elem(skel_->maps.net_time, &key, sizeof key, per_cpu.data(),
                           per_cpu.size() * sizeof(net_softirq_time), 0) != 0)
    throw_errno("read the network softirq time");
  int64_t sum = 0;
  for (const net_softirq_time& t : per_cpu) sum += int64_t(t.outside_receiver_ns);
  return sum;
}

}  // namespace rcvq
