#include "probes/data_ready.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/errors.hpp"
#include "data_ready.skel.h"

namespace rcvq {

DataReadyProbe::DataReadyProbe(bool record_arrivals) {
  struct data_ready* skel = data_ready__open();
  if (!skel) {
    reason_ = fmt::format("cannot open the sk_data_ready BPF object: {}", std::strerror(errno));
    return;
  }
  skel->rodata->record_arrivals = record_arrivals;
  if (int err = data_ready__load(skel)) {
    reason_ = fmt::format("the kernel refused the tp_btf/sk_data_ready program: {}", std::strerror(-err));
    data_ready__destroy(skel);
    return;
  }
  if (int err = data_ready__attach(skel)) {
    reason_ = fmt::format("cannot attach to tracepoint sock:sk_data_ready: {}", std::strerror(-err));
    data_ready__destroy(skel);
    return;
  }
  if (record_arrivals) {
    ring_ = ring_buffer__new(
        bpf_map__fd(skel->maps.arrivals),
        [](void* ctx, void* data, size_t size) {
          if (size >= sizeof(data_ready_event))
            static_cast<std::vector<data_ready_event>*>(ctx)->push_back(
                *static_cast<const data_ready_event*>(data));
          return 0;
        },
        &pending_, nullptr);
    if (!ring_) {
      reason_ = fmt::format("cannot open the arrivals ring buffer: {}", std::strerror(errno));
      data_ready__destroy(skel);
      return;
    }
  }
  skel_ = skel;
}

DataReadyProbe::~DataReadyProbe() {
  if (ring_) ring_buffer__free(ring_);
  if (skel_) data_ready__destroy(skel_);
}

uint64_t DataReadyProbe::socket_cookie(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0) throw_errno("SO_COOKIE");
  return cookie;
}

void DataReadyProbe::watch(int fd) {
  if (!skel_) return;
  const data_ready_counts zero{};
  if (bpf_map__update_elem(skel_->maps.watched, &fd, sizeof fd, &zero, sizeof zero, BPF_ANY) != 0)
    throw_errno("watch socket in the sk_data_ready map");
}

void DataReadyProbe::unwatch(int fd) {
  if (!skel_) return;
  bpf_map__delete_elem(skel_->maps.watched, &fd, sizeof fd, 0);
}

DataReadyCounts DataReadyProbe::counts_before_read(int fd, uint64_t reader_offset) const {
  if (!skel_) return {};
  data_ready_counts c{};
  if (bpf_map__lookup_elem(skel_->maps.watched, &fd, sizeof fd, &c, sizeof c, BPF_F_LOCK) != 0)
    throw_errno("read the sk_data_ready counts");
  DataReadyCounts counts{c.notifications, c.wakeup_edges};
  if (c.notifications > 0 && c.copied_bytes == reader_offset)
    counts = counts - DataReadyCounts{c.epoch_notifications, c.epoch_wakeup_edges};
  return counts;
}

std::vector<data_ready_event> DataReadyProbe::drain_arrivals() {
  if (ring_) ring_buffer__consume(ring_);
  return std::exchange(pending_, {});
}

}  // namespace rcvq
