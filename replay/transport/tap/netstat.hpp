#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "transport/netns.hpp"

namespace rcvq::tap {

// The TCP/IP MIB counters of one namespace (/proc/net/netstat and /proc/net/snmp as
// seen from inside it), keyed "TcpExtTCPOFOQueue", "TcpInSegs", ...
using NetstatCounters = std::map<std::string, uint64_t>;

NetstatCounters read_netstat(const Netns& ns);

// b - a for every counter in b (counters absent from a count from 0).
NetstatCounters netstat_delta(const NetstatCounters& a, const NetstatCounters& b);

}  // namespace rcvq::tap
