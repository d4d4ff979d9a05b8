#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>

struct net_softirq;  // libbpf skeleton

namespace rcvq {

// Network softirq (NET_RX + NET_TX) time summed over every CPU, leaving out what ran
// in the receiver thread's context: tp_btf programs on irq:softirq_entry/exit. It is
// system-wide, so other network traffic on the host counts too. When the programs
// cannot load or attach, available() is false and reason() says why.
class NetSoftirqProbe {
 public:
  NetSoftirqProbe();
  ~NetSoftirqProbe();
  NetSoftirqProbe(const NetSoftirqProbe&) = delete;
  NetSoftirqProbe& operator=(const NetSoftirqProbe&) = delete;

  bool available() const { return skel_ != nullptr; }
  const std::string& reason() const { return reason_; }

  // From now on softirqs that interrupt thread `tid` are left out: its task-clock has them.
  void set_receiver_thread(pid_t tid);
  int64_t outside_receiver_ns() const;

 private:
  struct net_softirq* skel_ = nullptr;
  std::string reason_;
};

}  // namespace rcvq
