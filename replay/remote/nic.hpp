#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace rcvq::remote {

// The interface that holds `address` on this host; throws RunError when none does.
std::string device_of_address(const std::string& address);
// The first address of `family` (AF_INET, AF_INET6) on `device`; throws InputError
// when the device is missing or has none.
std::string device_address(const std::string& device, int family);

// What decides how a NIC hands payload to TCP: driver, MTU and the receive offloads
// (tcp-data-split, GRO, LRO, HW-GRO), as ethtool and sysfs report them. A feature the
// host cannot report is null, with the reason under "unavailable".
nlohmann::json describe_nic(const std::string& device, const std::string& address);

// ethtool -k / -g output parsed into features; exposed for tests.
nlohmann::json offload_features(const std::string& ethtool_k_output);
nlohmann::json tcp_data_split(const std::string& ethtool_g_output);

}  // namespace rcvq::remote
