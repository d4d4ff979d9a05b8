#include "results/timing.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace rcvq {

using json = nlohmann::json;

const std::vector<std::string>& timing_metric_keys() {
  static const std::vector<std::string> keys{"cpu_us_per_frame",
                                             "cpu_rusage_us_per_frame",
                                             "net_softirq_outside_receiver_us_per_frame",
                                             "receive_path_cpu_us_per_frame",
                                             "latency_ns",
                                             "latency_from_send_ns",
                                             "send_lateness_ns",
                                             "frames_per_s",
                                             "wall_s"};
  return keys;
}

bool is_timing_metric(const std::string& key) {
  const size_t start = key.starts_with('/') ? 1 : 0;
  const std::string top = key.substr(start, key.find('/', start) - start);
  const auto& keys = timing_metric_keys();
  return std::find(keys.begin(), keys.end(), top) != keys.end();
}

std::string timing_domain(const json& host) {
  if (!host.is_object() || !host.contains("vm") || !host["vm"].is_object()) return "host";
  const json& accel = host["vm"].value("accel", json());
  return accel.is_string() && !accel.get<std::string>().empty() ? accel.get<std::string>() : "unknown";
}

std::string timing_incomparability(const std::string& domain_a, const std::string& domain_b) {
  if (domain_a == domain_b) return "";
  // KVM runs guest code natively: its times are close enough to set beside the host's.
  for (const std::string& d : {domain_a, domain_b})
    if (d != "host" && d != "kvm") return fmt::format("not comparable ({})", d);
  return "";
}

TimingComparability timing_comparability(const json& host) {
  const std::string domain = timing_domain(host);
  if (domain == "host" || domain == "kvm") return {};
  const std::string kernel = host["vm"].value("kernel", std::string("?"));
  if (domain == "tcg")
    return {false, fmt::format("measured in a QEMU guest under TCG (software emulation) on kernel {}: CPU, "
                               "latency and throughput are inflated ~10x and not comparable with the host's; "
                               "counts are",
                               kernel)};
  return {false, fmt::format("measured in a QEMU guest under accelerator '{}' on kernel {}: times are not "
                             "known to be comparable with the host's; counts are",
                             domain, kernel)};
}

}  // namespace rcvq
