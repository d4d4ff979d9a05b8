#include "remote/nic.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/wait.h>

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/errors.hpp"

namespace rcvq::remote {
namespace {

using json = nlohmann::json;

std::string address_of(const sockaddr* sa) {
  char text[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, text, sizeof text);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, text, sizeof text);
  return text;
}

template <typename Visit>
void each_address(Visit visit) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) throw_errno("getifaddrs");
  for (const ifaddrs* a = list; a; a = a->ifa_next)
    if (a->ifa_addr && (a->ifa_addr->sa_family == AF_INET || a->ifa_addr->sa_family == AF_INET6))
      if (visit(std::string(a->ifa_name), a->ifa_addr->sa_family, address_of(a->ifa_addr))) break;
  freeifaddrs(list);
}

bool plain_device_name(const std::string& device) {
  if (device.empty() || device.size() >= 16) return false;
  for (char c : device)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

// ethtool's output, or the reason there is none. `device` is a checked plain name.
std::pair<std::string, std::string> ethtool(const std::string& option, const std::string& device) {
  const std::string command = fmt::format("ethtool {} {} 2>&1", option, device);
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {"", fmt::format("cannot run ethtool: {}", std::strerror(errno))};
  std::string output;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  const int status = pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!output.empty() && output.back() == '\n') output.pop_back();
    return {"", fmt::format("ethtool {} {} failed: {}", option, device, output.empty() ? "no output" : output)};
  }
  return {output, ""};
}

std::string read_line(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

std::string device_of_address(const std::string& address) {
  std::string device;
  each_address([&](const std::string& name, int, const std::string& text) {
    if (text != address) return false;
    device = name;
    return true;
  });
  if (device.empty()) throw RunError(fmt::format("no interface of this host holds {}", address));
  return device;
}

std::string device_address(const std::string& device, int family) {
  std::string found;
  bool exists = false;
  each_address([&](const std::string& name, int fam, const std::string& text) {
    if (name != device) return false;
    exists = true;
    if (fam != family) return false;
    found = text;
    return true;
  });
  if (found.empty())
    throw InputError(exists ? fmt::format("transport.device {} has no {} address", device,
                                          family == AF_INET6 ? "IPv6" : "IPv4")
                            : fmt::format("transport.device {}: no such interface on the receiver host", device));
  return found;
}

json offload_features(const std::string& out) {
  json features = json::object();
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    for (auto [ethtool_name, key] : {std::pair{"generic-receive-offload", "gro"},
                                     {"large-receive-offload", "lro"},
                                     {"rx-gro-hw", "hw_gro"},
                                     {"rx-gro-list", "gro_list"}}) {
      const std::string prefix = std::string(ethtool_name) + ": ";
      if (line.rfind(prefix, 0) != 0) continue;
      features[key] = line.compare(prefix.size(), 2, "on") == 0;
      if (line.find("[fixed]") != std::string::npos) features[std::string(key) + "_fixed"] = true;
    }
  }
  return features;
}

json tcp_data_split(const std::string& out) {
  std::istringstream lines(out);
  // The current settings follow the pre-set maximums; the last occurrence is current.
  json value = nullptr;
  for (std::string line; std::getline(lines, line);) {
    const std::string key = "TCP data split:";
    if (line.rfind(key, 0) != 0) continue;
    std::string v = line.substr(key.size());
    v.erase(0, v.find_first_not_of(" \t"));
    value = v;
  }
  return value;
}

json describe_nic(const std::string& device, const std::string& address) {
  json nic = {{"kind", "remote"}, {"device", device}, {"address", address}};
  json unavailable = json::object();
  const std::filesystem::path sys = std::filesystem::path("/sys/class/net") / device;
  const std::string mtu = read_line(sys / "mtu");
  nic["mtu"] = mtu.empty() ? json(nullptr) : json(std::stoul(mtu));
  std::error_code ec;
  const auto driver = std::filesystem::read_symlink(sys / "device" / "driver", ec);
  if (!ec) {
    nic["driver"] = driver.filename().string();
  } else {
    nic["driver"] = nullptr;
    unavailable["driver"] = "no device/driver in sysfs (a virtual interface)";
  }
  if (!plain_device_name(device)) {
    unavailable["features"] = fmt::format("'{}' is not a plain interface name", device);
  } else {
    const auto [k, k_error] = ethtool("-k", device);
    if (k_error.empty()) nic["features"] = offload_features(k);
    else unavailable["features"] = k_error;
    const auto [g, g_error] = ethtool("-g", device);
    json split = g_error.empty() ? tcp_data_split(g) : json(nullptr);
    nic["tcp_data_split"] = split;
    if (!g_error.empty()) unavailable["tcp_data_split"] = g_error;
    else if (split.is_null()) unavailable["tcp_data_split"] = "ethtool -g reports no TCP data split for this device";
  }
  nic["unavailable"] = unavailable;
  return nic;
}

}  // namespace rcvq::remote
