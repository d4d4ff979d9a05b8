// The application's own framing help: after each read it sets SO_RCVLOWAT to the bytes
// still missing for the current frame (or its prefix), so the kernel wakes it only
// when that much has arrived. Costs a setsockopt whenever the target changes.
#include <climits>

#include "common/errors.hpp"
#include "receiver/modes/modes.hpp"

namespace rcvq {
namespace {

class LowatUser : public ReceiverMode {
 public:
  void after_read(Connection& conn) override {
    // Nothing follows the last frame but FIN: a new target would be a wasted syscall.
    if (conn.has_every_frame()) return;
    const uint64_t missing = conn.scanner().bytes_missing();
    // SO_RCVLOWAT takes an int; the kernel also caps it at half the receive buffer.
    const int target = int(std::min<uint64_t>(missing, INT_MAX));
    if (!conn.set_rcvlowat(target)) throw_errno("setsockopt(SO_RCVLOWAT)");
  }
};

}  // namespace

ModeDefinition lowat_user_mode() {
  return {"lowat-user", "the application sets SO_RCVLOWAT to the bytes its frame still lacks",
          [](const Scenario&, const HostProbe&) -> ModeSupport { return std::nullopt; },
          [](const Scenario&) { return std::make_unique<LowatUser>(); }};
}

}  // namespace rcvq
