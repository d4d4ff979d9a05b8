#include "probes/host_probe.hpp"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/privileges.hpp"
#include "probes/data_ready.hpp"
#include "transport/netns.hpp"

namespace rcvq {
namespace {

std::string mount_point_of(const std::string& fstype) {
  std::ifstream mounts("/proc/mounts");
  std::string device, dir, type, rest;
  while (mounts >> device >> dir >> type && std::getline(mounts, rest))
    if (type == fstype) return dir;
  return {};
}

// Finds an enumerator or a named type in the running kernel's BTF.
class KernelBtf {
 public:
  KernelBtf() : btf_(btf__load_vmlinux_btf()) {}
  ~KernelBtf() { btf__free(btf_); }
  bool loaded() const { return btf_ != nullptr; }
  bool has_enum_value(const char* name) const {
    for (__u32 id = 1; id < btf__type_cnt(btf_); ++id) {
      const btf_type* t = btf__type_by_id(btf_, id);
      if (!btf_is_enum(t)) continue;
      const struct btf_enum* values = btf_enum(t);
      for (int i = 0; i < btf_vlen(t); ++i)
        if (std::strcmp(btf__name_by_offset(btf_, values[i].name_off), name) == 0) return true;
    }
    return false;
  }
  bool has_struct(const char* name) const { return btf__find_by_name_kind(btf_, name, BTF_KIND_STRUCT) > 0; }

 private:
  struct btf* btf_;
};

// libbpf's probe answers 0 both for a kernel without the program type and for a
// process the kernel refuses every program, so the second is told apart by asking
// for this process's capabilities (`missing_privileges`, "" when it has them).
Capability probe_prog_type(const char* name, bpf_prog_type type, const char* what,
                           const std::string& missing_privileges) {
  int rc = libbpf_probe_bpf_prog_type(type, nullptr);
  if (rc == 1) return {name, true, fmt::format("{} programs load", what)};
  if (!missing_privileges.empty())
    return {name, false, fmt::format("{} programs are refused to this process: {}", what, missing_privileges)};
  return {name, false, fmt::format("{} programs do not load here ({})", what, rc < 0 ? std::strerror(-rc) : "unsupported")};
}

// libbpf prints its own account of every refused load on stderr; the probe's table
// already gives each capability's reason, so it stays silent while probing.
class LibbpfSilenced {
 public:
  LibbpfSilenced() : previous_(libbpf_set_print(nullptr)) {}
  ~LibbpfSilenced() { libbpf_set_print(previous_); }
  LibbpfSilenced(const LibbpfSilenced&) = delete;
  LibbpfSilenced& operator=(const LibbpfSilenced&) = delete;

 private:
  libbpf_print_fn_t previous_;
};

Capability probe_perf(const char* name, uint32_t type, uint64_t config, const char* what) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = type;
  attr.config = config;
  attr.disabled = 1;
  attr.exclude_kernel = 0;
  int fd = int(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
  if (fd >= 0) {
    close(fd);
    return {name, true, fmt::format("{} can be counted per thread", what)};
  }
  return {name, false, fmt::format("perf_event_open({}) failed: {}", what, std::strerror(errno))};
}

template <typename Fn>
Capability try_capability(const char* name, const std::string& ok, Fn&& fn) {
  try {
    fn();
    return {name, true, ok};
  } catch (const std::exception& e) {
    return {name, false, e.what()};
  }
}

}  // namespace

bool HostProbe::has(const std::string& name) const {
  for (const auto& c : capabilities)
    if (c.name == name) return c.available;
  return false;
}

std::string HostProbe::detail(const std::string& name) const {
  for (const auto& c : capabilities)
    if (c.name == name) return c.detail;
  return "not probed";
}

nlohmann::json HostProbe::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& c : capabilities) j[c.name] = {{"available", c.available}, {"detail", c.detail}};
  return j;
}

std::string cgroup2_mount_point() { return mount_point_of("cgroup2"); }

HostProbe probe_host() {
  HostProbe probe;
  auto& caps = probe.capabilities;
  const LibbpfSilenced quiet;
  const std::string missing_privileges = missing_run_privileges();
  KernelBtf btf;
  if (!btf.loaded()) {
    caps.push_back({cap::kRcvqCbSockops, false, "no kernel BTF at /sys/kernel/btf/vmlinux"});
    caps.push_back({cap::kTcpOps, false, "no kernel BTF at /sys/kernel/btf/vmlinux"});
  } else {
    caps.push_back(btf.has_enum_value("BPF_SOCK_OPS_RCVQ_CB")
                       ? Capability{cap::kRcvqCbSockops, true, "kernel BTF has BPF_SOCK_OPS_RCVQ_CB"}
                       : Capability{cap::kRcvqCbSockops, false,
                                    "kernel BTF has no BPF_SOCK_OPS_RCVQ_CB: this kernel lacks "
                                    "the AutoLOWAT sock_ops hook (v3 series)"});
    caps.push_back(btf.has_struct("bpf_tcp_ops")
                       ? Capability{cap::kTcpOps, true, "kernel BTF has struct bpf_tcp_ops"}
                       : Capability{cap::kTcpOps, false,
                                    "kernel BTF has no struct bpf_tcp_ops: this kernel lacks the "
                                    "AutoLOWAT struct_ops revision (v5 series)"});
  }
  {
    Capability c = probe_prog_type(cap::kSockmapStrparser, BPF_PROG_TYPE_SK_SKB, "sk_skb", missing_privileges);
    if (c.available && libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKMAP, nullptr) != 1)
      c = {cap::kSockmapStrparser, false, "BPF_MAP_TYPE_SOCKMAP is not available"};
    else if (c.available)
      c.detail = "sk_skb programs load and sockmaps can be created";
    caps.push_back(c);
  }
  {
    // Attached for real, detached again when it goes out of scope.
    DataReadyProbe data_ready(false);
    caps.push_back({cap::kDataReadyTracepoint, data_ready.available(),
                    data_ready.available() ? "tp_btf program attached to sock:sk_data_ready"
                                           : data_ready.reason()});
  }
  caps.push_back(probe_prog_type(cap::kSockOpsCgroup, BPF_PROG_TYPE_SOCK_OPS, "sock_ops", missing_privileges));
  caps.push_back(probe_prog_type(cap::kCgroupSetsockopt, BPF_PROG_TYPE_CGROUP_SOCKOPT, "cgroup/setsockopt",
                                missing_privileges));
  caps.push_back(try_capability(cap::kNetns, "private network namespaces can be created",
                                [] { Netns::create(); }));
  caps.push_back(try_capability(cap::kVeth, "veth pairs can be created (inside a private namespace)", [] {
    Netns ns = Netns::create();
    ns.run({"ip", "link", "add", "rqprobe0", "type", "veth", "peer", "name", "rqprobe1"});
  }));
  caps.push_back(try_capability(cap::kTap, "TAP devices can be created (inside a private namespace)", [] {
    Netns ns = Netns::create();
    NetnsGuard inside(ns);
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(fmt::format("open /dev/net/tun: {}", std::strerror(errno)));
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, "rqprobe%d", IFNAMSIZ - 1);
    const int rc = ioctl(fd, TUNSETIFF, &ifr);
    const int err = errno;
    close(fd);
    if (rc != 0) throw std::runtime_error(fmt::format("TUNSETIFF: {}", std::strerror(err)));
  }));
  caps.push_back(probe_perf(cap::kPerfSoftware, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, "task-clock"));
  caps.push_back(probe_perf(cap::kPerfHardware, PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, "cpu-cycles"));
  const std::string cg = cgroup2_mount_point();
  caps.push_back(cg.empty() ? Capability{cap::kCgroup2, false, "no cgroup2 mount in /proc/mounts"}
                            : Capability{cap::kCgroup2, true, "mounted at " + cg});
  const std::string bpffs = mount_point_of("bpf");
  caps.push_back(bpffs.empty()
                     ? Capability{cap::kBpffs, false, "not mounted (rcvqbench pins nothing, so it needs none)"}
                     : Capability{cap::kBpffs, true, "mounted at " + bpffs});
  return probe;
}

nlohmann::json describe_host() {
  utsname u{};
  uname(&u);
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model;
  while (std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  nlohmann::json host = {{"kernel", u.release},
                         {"kernel_version", u.version},
                         {"machine", u.machine},
                         {"hostname", u.nodename},
                         {"cpus", std::thread::hardware_concurrency()},
                         {"cpu_model", model},
                         {"libbpf", fmt::format("{}.{}", libbpf_major_version(), libbpf_minor_version())}};
  // tools/vmrun sets these in its guests: a run there must say where its clock ran.
  if (const char* accel = std::getenv("RCVQBENCH_VM_ACCEL")) {
    const char* kernel = std::getenv("RCVQBENCH_VM_KERNEL");
    host["vm"] = {{"accel", accel}, {"kernel", kernel ? kernel : ""}};
  }
  return host;
}

}  // namespace rcvq
