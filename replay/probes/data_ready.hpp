#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data_ready_event.h"

struct data_ready;  // libbpf skeleton
struct ring_buffer;

namespace rcvq {

// Kernel-side wakeup counter: a tp_btf program on sock:sk_data_ready counting calls
// on the sockets it is told to watch (by SO_COOKIE). When the program cannot load or
// attach, available() is false and reason() says why; counts are then not taken.
class DataReadyProbe {
 public:
  explicit DataReadyProbe(bool record_arrivals);
  ~DataReadyProbe();
  DataReadyProbe(const DataReadyProbe&) = delete;
  DataReadyProbe& operator=(const DataReadyProbe&) = delete;

  bool available() const { return skel_ != nullptr; }
  const std::string& reason() const { return reason_; }

  void watch(int fd);
  void unwatch(int fd);
  uint64_t count(int fd) const;
  static uint64_t socket_cookie(int fd);
  // Events recorded since the last call (only with record_arrivals).
  std::vector<data_ready_event> drain_arrivals();

 private:
  struct data_ready* skel_ = nullptr;
  struct ring_buffer* ring_ = nullptr;
  std::vector<data_ready_event> pending_;
  std::string reason_;
};

}  // namespace rcvq
