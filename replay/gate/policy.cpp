#include "gate/policy.hpp"

#include <fmt/format.h>

#include "common/errors.hpp"
#include "common/input_file.hpp"
#include "scenario/yaml_fields.hpp"

namespace rcvq {
namespace {

// A policy is a few dozen lines; anything near this is not one.
constexpr uint64_t kMaxGatePolicyBytes = 1 << 20;

MetricPolicy counter() {
  MetricPolicy p;
  p.kind = MetricPolicy::Kind::Counter;
  return p;
}

MetricPolicy timing(bool lower_is_better = true) {
  MetricPolicy p;
  p.kind = MetricPolicy::Kind::Timing;
  p.lower_is_better = lower_is_better;
  return p;
}

MetricPolicy::Kind kind_named(const std::string& name) {
  if (name == "counter") return MetricPolicy::Kind::Counter;
  if (name == "timing") return MetricPolicy::Kind::Timing;
  if (name == "report") return MetricPolicy::Kind::Report;
  return MetricPolicy::Kind::Ignore;
}

// Fields of one metric's mapping on top of `base` (its built-in policy).
MetricPolicy read_metric(YamlFields fields, MetricPolicy base) {
  if (fields.has("kind"))
    base.kind = kind_named(fields.choice("kind", "", {"counter", "timing", "report", "ignore"}));
  if (fields.has("better")) base.lower_is_better = fields.choice("better", "lower", {"lower", "higher"}) == "lower";
  base.tolerance = fields.number("tolerance", base.tolerance, 0, 10);
  base.slack = fields.number("slack", base.slack, 0, 1e12);
  base.alpha = fields.number("alpha", base.alpha, 1e-9, 0.5);
  base.min_effect = fields.number("min_effect", base.min_effect, 0, 10);
  base.min_repetitions = fields.u64("min_repetitions", base.min_repetitions, 2, 10000);
  fields.finish();
  return base;
}

// Every metric's mapping in `node` (read through `listed`) on top of base(metric), into `into`.
template <typename Base>
void read_metrics(const YAML::Node& node, YamlFields listed, std::map<std::string, MetricPolicy>& into, Base base) {
  for (const auto& kv : node) {
    const std::string name = kv.first.as<std::string>();
    if (!kv.second.IsMap()) listed.fail(kv.second, name, "must be a mapping such as {kind: counter}");
    into[name] = read_metric(listed.map(name), base(name));
  }
  listed.finish();
}

}  // namespace

std::string to_string(MetricPolicy::Kind kind) {
  switch (kind) {
    case MetricPolicy::Kind::Counter: return "counter";
    case MetricPolicy::Kind::Timing: return "timing";
    case MetricPolicy::Kind::Report: return "report";
    case MetricPolicy::Kind::Ignore: return "ignore";
  }
  return "?";
}

const MetricPolicy& GatePolicy::of(const std::string& metric) const {
  auto it = metrics.find(metric);
  return it == metrics.end() ? fallback : it->second;
}

const MetricPolicy& GatePolicy::of(const std::string& benchmark, const std::string& metric) const {
  const MetricPolicy* chosen = nullptr;
  size_t chosen_length = 0;
  for (const auto& [prefix, policies] : benchmarks) {
    if (benchmark.compare(0, prefix.size(), prefix) != 0 || (chosen && prefix.size() < chosen_length)) continue;
    if (auto it = policies.find(metric); it != policies.end()) {
      chosen = &it->second;
      chosen_length = prefix.size();
    }
  }
  return chosen ? *chosen : of(metric);
}

GatePolicy default_gate_policy() {
  GatePolicy g;
  for (const char* m : {"wakeups_per_frame", "events_per_frame", "early_wakeups_per_frame", "syscalls_per_frame",
                        "recv_calls_per_frame", "setsockopt_per_frame", "epoll_waits_per_frame",
                        "kernel_data_ready_per_frame", "kernel_wakeup_edges_per_frame",
                        "segments_per_frame_planned", "segments_per_frame_achieved"})
    g.metrics[m] = counter();
  // Load coalesces more notifications without the receiver doing anything worse.
  g.metrics["coalesced_notifications_per_frame"].kind = MetricPolicy::Kind::Report;
  for (const char* m : {"cpu_us_per_frame", "cpu_rusage_us_per_frame", "net_softirq_outside_receiver_us_per_frame",
                        "receive_path_cpu_us_per_frame", "ctx_switches_per_frame", "p50_us", "p99_us",
                        "real_time_ns", "cpu_time_ns"})
    g.metrics[m] = timing();
  g.metrics["frames_per_s"] = timing(false);
  // instrument/...: ratios and sizes of the tool itself, not of the receiver under test.
  // Both sides of the iperf3 ratio run in the same minute, so host load mostly cancels;
  // the wide tolerance takes what remains on a shared 2-CPU machine.
  MetricPolicy ratio = counter();
  ratio.lower_is_better = false;
  ratio.tolerance = 0.25;
  ratio.slack = 0;
  g.metrics["iperf3_throughput_ratio"] = ratio;
  MetricPolicy rss = counter();
  rss.tolerance = 0.10;
  rss.slack = 8;  // MB
  g.metrics["peak_rss_mb"] = rss;
  for (const char* m : {"replay_gbit_s", "iperf3_gbit_s"}) g.metrics[m].kind = MetricPolicy::Kind::Report;
  // Their wall time is TCP transfers, whose length swings with the regime a transfer
  // settles in (bench-replay's item 1), and a round count; the counters carry the figure.
  for (const char* m : {"real_time_ns", "cpu_time_ns"}) g.benchmarks["instrument/"][m].kind = MetricPolicy::Kind::Report;
  return g;
}

GatePolicy load_gate_policy(const std::string& path) {
  // Read as a bounded regular file first: LoadFile would block forever on a FIFO and
  // read /dev/zero until memory runs out.
  const std::string text = read_regular_file(path, kMaxGatePolicyBytes, "gate policy");
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}:{}:{}: {}", path, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  GatePolicy g = default_gate_policy();
  if (root.IsNull()) return g;
  if (!root.IsMap()) throw InputError(fmt::format("{}: a gate policy is a mapping", yaml_position(path, root)));
  YamlFields top(path, root, "");
  g.missing_is_regression = top.choice("missing", "fail", {"fail", "report"}) == "fail";
  if (top.has("default")) g.fallback = read_metric(top.map("default"), g.fallback);
  if (top.has("metrics")) {
    const YAML::Node metrics = top.take("metrics");
    if (!metrics.IsMap()) top.fail(metrics, "metrics", "must map metric names to policies");
    read_metrics(metrics, YamlFields(path, metrics, "metrics"), g.metrics,
                 [&](const std::string& metric) { return g.of(metric); });
  }
  if (top.has("benchmarks")) {
    const YAML::Node benchmarks = top.take("benchmarks");
    if (!benchmarks.IsMap()) top.fail(benchmarks, "benchmarks", "must map benchmark name prefixes to metrics");
    YamlFields prefixes(path, benchmarks, "benchmarks");
    for (const auto& kv : benchmarks) {
      const std::string prefix = kv.first.as<std::string>();
      if (!kv.second.IsMap()) prefixes.fail(kv.second, prefix, "must map metric names to policies");
      read_metrics(kv.second, prefixes.map(prefix), g.benchmarks[prefix],
                   [&](const std::string& metric) { return g.of(prefix, metric); });
    }
    prefixes.finish();
  }
  top.finish();
  return g;
}

}  // namespace rcvq
