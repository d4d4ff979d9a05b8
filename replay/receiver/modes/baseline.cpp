// rcvlowat 1: the reader is woken for every skb that lands on the receive queue.
#include "receiver/modes/modes.hpp"

namespace rcvq {
namespace {

class Baseline : public ReceiverMode {};

}  // namespace

ModeDefinition baseline_mode() {
  return {"baseline", "SO_RCVLOWAT 1 (the default): woken for every skb",
          [](const Scenario&, const HostProbe&) -> ModeSupport { return std::nullopt; },
          [](const Scenario&) { return std::make_unique<Baseline>(); }};
}

}  // namespace rcvq
