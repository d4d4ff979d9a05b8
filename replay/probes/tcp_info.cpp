#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

#include "probes/thread_usage.hpp"

namespace rcvq {
namespace {

// TCP_INFO's field at `offset`, or -1 when the call fails or this kernel's struct ends
// before it.
template <typename Field>
int64_t tcp_info_field(int fd, size_t offset) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || len < offset + sizeof(Field)) return -1;
  Field value;
  __builtin_memcpy(&value, reinterpret_cast<const char*>(&info) + offset, sizeof value);
  return int64_t(value);
}

}  // namespace

int64_t tcp_data_segments_in(int fd) {
  return tcp_info_field<decltype(tcp_info::tcpi_data_segs_in)>(fd, offsetof(tcp_info, tcpi_data_segs_in));
}

int64_t tcp_bytes_received(int fd) {
  return tcp_info_field<decltype(tcp_info::tcpi_bytes_received)>(fd, offsetof(tcp_info, tcpi_bytes_received));
}

}  // namespace rcvq
