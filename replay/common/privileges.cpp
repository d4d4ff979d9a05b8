#include "common/privileges.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace rcvq {

std::string missing_run_privileges() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (syscall(SYS_capget, &header, data) != 0)
    return fmt::format("cannot read this process's capabilities: {}", std::strerror(errno));
  std::vector<const char*> missing;
  for (auto [cap, name] : {std::pair{CAP_SYS_ADMIN, "CAP_SYS_ADMIN"}, {CAP_NET_ADMIN, "CAP_NET_ADMIN"}})
    if (!(data[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap))) missing.push_back(name);
  if (missing.empty()) return "";
  return fmt::format("run needs root (it creates network namespaces and loads BPF programs; {} {} missing): "
                     "run it with sudo",
                     fmt::join(missing, " and "), missing.size() == 1 ? "is" : "are");
}

}  // namespace rcvq
