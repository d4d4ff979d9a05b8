#include "transport/tap/netstat.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "common/errors.hpp"

namespace rcvq::tap {
namespace {

// Both files hold pairs of lines: "Prefix: name name ..." then "Prefix: value value ...".
void parse_pairs(const std::string& path, NetstatCounters& out) {
  std::ifstream in(path);
  if (!in) throw RunError(fmt::format("cannot read {}", path));
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    std::istringstream n(names), v(values);
    std::string prefix, prefix2, name, value;
    n >> prefix;
    v >> prefix2;
    if (prefix != prefix2 || prefix.empty()) continue;
    prefix.pop_back();  // the colon
    while (n >> name && v >> value) {
      try {
        out[prefix + name] = std::stoull(value);
      } catch (const std::exception&) {
        // Signed fields such as TcpMaxConn (-1) are not counters.
      }
    }
  }
}

}  // namespace

NetstatCounters read_netstat(const Netns& ns) {
  // /proc/net follows the process's namespace; thread-self follows this thread's.
  NetnsGuard inside(ns);
  NetstatCounters c;
  parse_pairs("/proc/thread-self/net/netstat", c);
  parse_pairs("/proc/thread-self/net/snmp", c);
  return c;
}

NetstatCounters netstat_delta(const NetstatCounters& a, const NetstatCounters& b) {
  NetstatCounters d;
  for (const auto& [name, value] : b) {
    auto it = a.find(name);
    d[name] = value - (it == a.end() ? 0 : it->second);
  }
  return d;
}

}  // namespace rcvq::tap
