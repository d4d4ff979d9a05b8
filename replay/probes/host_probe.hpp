#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rcvq {

struct Capability {
  std::string name;
  bool available = false;
  std::string detail;  // what was found, or why not
};

// What this kernel and host support, each found by trying it (loading, attaching,
// creating), never by version numbers.
struct HostProbe {
  std::vector<Capability> capabilities;

  bool has(const std::string& name) const;
  std::string detail(const std::string& name) const;
  nlohmann::json to_json() const;
};

// Capability names, used by modes to decide whether they can run.
namespace cap {
inline constexpr const char* kRcvqCbSockops = "autolowat_sockops";     // BPF_SOCK_OPS_RCVQ_CB
inline constexpr const char* kTcpOps = "autolowat_tcp_ops";            // struct bpf_tcp_ops
inline constexpr const char* kSockmapStrparser = "sockmap_strparser";
inline constexpr const char* kDataReadyTracepoint = "tp_btf_sk_data_ready";
inline constexpr const char* kSockOpsCgroup = "sock_ops_cgroup";
inline constexpr const char* kCgroupSetsockopt = "cgroup_setsockopt";
inline constexpr const char* kNetns = "netns";
inline constexpr const char* kVeth = "veth";
inline constexpr const char* kTap = "tap";
inline constexpr const char* kPerfSoftware = "perf_sw_events";
inline constexpr const char* kPerfHardware = "perf_hw_events";
inline constexpr const char* kCgroup2 = "cgroup2";
inline constexpr const char* kBpffs = "bpffs";
}  // namespace cap

HostProbe probe_host();
// Host facts for run.json: kernel, CPUs, library versions; inside a tools/vmrun guest
// also vm: {accel, kernel} (from RCVQBENCH_VM_ACCEL / RCVQBENCH_VM_KERNEL).
nlohmann::json describe_host();
// Where cgroup v2 is mounted (from /proc/mounts), or empty.
std::string cgroup2_mount_point();

}  // namespace rcvq
