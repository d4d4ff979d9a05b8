#pragma once
#include <cstdint>
#include <memory>

#include "transport/network.hpp"

namespace rcvq {

namespace tap {
class TapDevice;
struct LinkEnds;
}  // namespace tap

// A private namespace whose only NIC is a TAP device driven by a userspace TCP peer.
std::unique_ptr<Network> make_tap_network(const Scenario& scenario);

// The device, addresses and a fresh peer port of a network from make_tap_network, for
// a reference peer that must inject into the very stack the tap replayer does (same
// namespace, device flags, tc probe): tools/bench-tap's injection floor.
struct TapInjectionPoint {
  tap::TapDevice& device;
  const tap::LinkEnds& ends;
  uint16_t listen_port;
  uint16_t peer_port;  // taken from the network's ports, so no replayer of it uses it
};
// Throws RunError when `network` is not a tap network.
TapInjectionPoint tap_injection_point(Network& network);

}  // namespace rcvq
