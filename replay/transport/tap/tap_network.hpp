#pragma once
#include <memory>

#include "transport/network.hpp"

namespace rcvq {

// A private namespace whose only NIC is a TAP device driven by a userspace TCP peer.
std::unique_ptr<Network> make_tap_network(const Scenario& scenario);

}  // namespace rcvq
