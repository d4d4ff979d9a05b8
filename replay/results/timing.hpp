#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rcvq {

// Whether a run's times (CPU, latency, throughput) can stand beside the host's. A QEMU
// guest under TCG emulates every instruction, so its clocks measure the emulator:
// counts (wakeups, syscalls, segments) still hold there, times do not.
struct TimingComparability {
  bool comparable = true;
  std::string reason;  // why not, when not
};

// What the printed tables append to a time that is not comparable with the host's ('*'
// already marks predictions).
inline constexpr const char* kTimingMark = "~";

// run.json keys under modes.<mode>.metrics whose values are times or rates of time.
const std::vector<std::string>& timing_metric_keys();
// `key` is a metrics key ("cpu_us_per_frame") or a JSON pointer into the metrics
// ("/latency_ns/p50").
bool is_timing_metric(const std::string& key);

// The clock a run's times come from: run.json's host.vm.accel ("tcg", "kvm"), or
// "host" for a run on the host itself.
std::string timing_domain(const nlohmann::json& host);
// Empty when times taken in the two domains may be compared, else the short verdict
// the comparisons print: "not comparable (tcg)".
std::string timing_incomparability(const std::string& domain_a, const std::string& domain_b);
// Comparability of a run whose run.json host section is `host`.
TimingComparability timing_comparability(const nlohmann::json& host);

}  // namespace rcvq
