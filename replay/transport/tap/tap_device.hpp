#pragma once
#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <string>

#include "transport/netns.hpp"

namespace rcvq::tap {

// A TAP device created inside a namespace. Frames written to the fd enter that
// namespace's stack as if a NIC had received them; frames the stack transmits on the
// device are read from the fd.
class TapDevice {
 public:
  // Tries IFF_NAPI | IFF_NAPI_FRAGS (frames through NAPI/GRO, iovecs after the first
  // become page frags), then IFF_NAPI, then neither, recording why each step failed.
  TapDevice(const Netns& ns, const std::string& name, bool want_napi_frags);
  TapDevice(const TapDevice&) = delete;
  TapDevice& operator=(const TapDevice&) = delete;
  ~TapDevice();

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  bool napi() const { return napi_; }
  bool napi_frags() const { return napi_frags_; }
  // Why the device runs without the flags asked for; empty when it has them.
  const std::string& fallback_reason() const { return fallback_reason_; }

  // One frame, all of it in the skb's linear area.
  void write_linear(std::span<const uint8_t> frame);
  // Headers in the linear area, payload in page frags (NAPI_FRAGS only).
  void write_split(std::span<const uint8_t> headers, std::span<const uint8_t> payload);
  // One frame the stack transmitted, or 0 when none is waiting (non-blocking).
  size_t read(std::span<uint8_t> buffer);
  // Waits up to timeout_ms for a transmitted frame; true when one is readable.
  bool wait_readable(int timeout_ms) const;

  uint64_t busy_retries() const { return busy_retries_; }

 private:
  void write_iov(const ::iovec* iov, int count, size_t total);

  int fd_ = -1;
  std::string name_;
  bool napi_ = false, napi_frags_ = false;
  std::string fallback_reason_;
  uint64_t busy_retries_ = 0;
};

}  // namespace rcvq::tap
