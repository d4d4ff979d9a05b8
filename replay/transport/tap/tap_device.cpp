#include "transport/tap/tap_device.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "common/errors.hpp"

namespace rcvq::tap {
namespace {
// tun copies each iovec after the first into its own page frag of at most one page.
constexpr size_t kFragBytes = 4096;
constexpr size_t kMaxFrags = 16;
}  // namespace

TapDevice::TapDevice(const Netns& ns, const std::string& name, bool want_napi_frags) : name_(name) {
  // The device joins the namespace of the thread that opens /dev/net/tun.
  NetnsGuard inside(ns);
  const int base = IFF_TAP | IFF_NO_PI;
  struct Attempt {
    int flags;
    bool napi, frags;
  };
  std::vector<Attempt> attempts;
  if (want_napi_frags) attempts.push_back({base | IFF_NAPI | IFF_NAPI_FRAGS, true, true});
  attempts.push_back({base | IFF_NAPI, true, false});
  attempts.push_back({base, false, false});
  std::string reasons;
  for (const Attempt& a : attempts) {
    const int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw_errno("open /dev/net/tun (CONFIG_TUN)");
    ifreq ifr{};
    ifr.ifr_flags = short(a.flags);
    std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name.c_str());
    if (ioctl(fd, TUNSETIFF, &ifr) == 0) {
      fd_ = fd;
      napi_ = a.napi;
      napi_frags_ = a.frags;
      fallback_reason_ = reasons;
      return;
    }
    const int err = errno;
    close(fd);
    reasons += fmt::format("{}TUNSETIFF with{}{} refused: {}", reasons.empty() ? "" : "; ",
                           a.napi ? " IFF_NAPI" : " neither IFF_NAPI", a.frags ? "|IFF_NAPI_FRAGS" : "",
                           std::strerror(err));
  }
  throw RunError(fmt::format("cannot create TAP device {}: {}", name, reasons));
}

TapDevice::~TapDevice() {
  if (fd_ >= 0) close(fd_);
}

void TapDevice::write_iov(const ::iovec* iov, int count, size_t total) {
  for (;;) {
    const ssize_t n = writev(fd_, iov, count);
    if (n == ssize_t(total)) return;
    if (n >= 0) throw RunError(fmt::format("TAP {}: short write {} of {} bytes", name_, n, total));
    // NAPI_FRAGS refuses a frame while its NAPI context is still busy with the last.
    if (errno == EBUSY || errno == EINTR || errno == EAGAIN) {
      ++busy_retries_;
      continue;
    }
    throw_errno(fmt::format("write a {}-byte frame to TAP {}", total, name_));
  }
}

void TapDevice::write_linear(std::span<const uint8_t> frame) {
  iovec iov{const_cast<uint8_t*>(frame.data()), frame.size()};
  write_iov(&iov, 1, frame.size());
}

void TapDevice::write_split(std::span<const uint8_t> headers, std::span<const uint8_t> payload) {
  if (!napi_frags_) throw RunError("header/data split needs a TAP with IFF_NAPI_FRAGS");
  iovec iov[1 + kMaxFrags];
  iov[0] = {const_cast<uint8_t*>(headers.data()), headers.size()};
  int count = 1;
  for (size_t done = 0; done < payload.size(); done += kFragBytes) {
    if (count == int(1 + kMaxFrags)) throw RunError("payload needs more page frags than an skb holds");
    iov[count++] = {const_cast<uint8_t*>(payload.data() + done), std::min(kFragBytes, payload.size() - done)};
  }
  write_iov(iov, count, headers.size() + payload.size());
}

size_t TapDevice::read(std::span<uint8_t> buffer) {
  for (;;) {
    const ssize_t n = ::read(fd_, buffer.data(), buffer.size());
    if (n >= 0) return size_t(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return 0;
    throw_errno(fmt::format("read from TAP {}", name_));
  }
}

bool TapDevice::wait_readable(int timeout_ms) const {
  pollfd pfd{fd_, POLLIN, 0};
  for (;;) {
    const int n = poll(&pfd, 1, timeout_ms);
    if (n >= 0) return n == 1;
    if (errno != EINTR) throw_errno("poll TAP");
  }
}

}  // namespace rcvq::tap
