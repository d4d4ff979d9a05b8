#include "probes/host_steal.hpp"

#include <unistd.h>

#include <fstream>
#include <string>

namespace rcvq {

int64_t host_steal_us() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  int64_t user, nice, system, idle, iowait, irq, softirq, steal;
  if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu")
    return -1;
  return steal * 1'000'000 / sysconf(_SC_CLK_TCK);
}

}  // namespace rcvq
