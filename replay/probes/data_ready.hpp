#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data_ready_event.h"

struct data_ready;  // libbpf skeleton
struct ring_buffer;

namespace rcvq {

// sk_data_ready calls on one socket (struct data_ready_counts): every notification,
// and the wakeup edges among them.
struct DataReadyCounts {
  uint64_t notifications = 0;
  uint64_t wakeup_edges = 0;

  DataReadyCounts operator-(const DataReadyCounts& o) const {
    return {notifications - o.notifications, wakeup_edges - o.wakeup_edges};
  }
  DataReadyCounts& operator+=(const DataReadyCounts& o) {
    notifications += o.notifications;
    wakeup_edges += o.wakeup_edges;
    return *this;
  }
};

// Kernel-side view of the reader's notifications: a tp_btf program on
// sock:sk_data_ready counting calls on the sockets it is told to watch (in their
// socket-local storage).
// When the program cannot load or attach, available() is false and reason() says why;
// counts are then not taken.
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
  // The calls made before the reader's read that brought it to `reader_offset` stream
  // bytes. Calls after that read are left out even when they already happened: they
  // announce data the reader's next wakeup takes, so a window cut at a read counts a
  // notification with the wakeup it caused.
  DataReadyCounts counts_before_read(int fd, uint64_t reader_offset) const;
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
