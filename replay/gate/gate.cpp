#include "gate/gate.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <set>

#include "gate/mann_whitney.hpp"
#include "results/timing.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;
using Status = BenchmarkSamples::Status;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string number(double v) { return fmt::format("{:.4g}", v); }

std::string relative_change(double base, double cur) {
  if (base == 0) return cur == 0 ? "+0%" : "n/a";
  return fmt::format("{:+.1f}%", (cur / base - 1) * 100);
}

std::string policy_text(const MetricPolicy& p) {
  switch (p.kind) {
    case MetricPolicy::Kind::Counter: return fmt::format("counter ±{:g}%", p.tolerance * 100);
    case MetricPolicy::Kind::Timing:
      return fmt::format("timing a={:g} >={:g}%", p.alpha, p.min_effect * 100);
    default: return to_string(p.kind);
  }
}

std::string samples_text(const std::vector<double>& v) {
  return v.size() == 1 ? number(v[0]) : fmt::format("{} (n={})", number(median(v)), v.size());
}

// Load on the measuring host can only merge wakeups and segments (a late reader finds
// more bytes waiting), never split them, so a per-frame count's true value is its
// least-merged repetition: the baseline's worst (for lower-is-better, its maximum).
// The current run is judged by its median, so one odd repetition does not fail it.
void compare_counter(const MetricPolicy& p, const std::vector<double>& base, const std::vector<double>& cur,
                     GateRow& row) {
  const double b = p.lower_is_better ? *std::max_element(base.begin(), base.end())
                                     : *std::min_element(base.begin(), base.end());
  const double c = median(cur);
  if (base.size() > 1) row.baseline = fmt::format("{} ({} of {})", number(b), p.lower_is_better ? "max" : "min", base.size());
  row.change = relative_change(b, c);
  const double worse_limit = p.lower_is_better ? b * (1 + p.tolerance) + p.slack : b * (1 - p.tolerance) - p.slack;
  const double better_limit = p.lower_is_better ? b * (1 - p.tolerance) - p.slack : b * (1 + p.tolerance) + p.slack;
  const bool worse = p.lower_is_better ? c > worse_limit : c < worse_limit;
  const bool better = p.lower_is_better ? c < better_limit : c > better_limit;
  row.verdict = worse ? GateVerdict::Regression : better ? GateVerdict::Improved : GateVerdict::Ok;
  row.fails = worse;
  row.note = fmt::format("limit {}", number(worse_limit));
}

void compare_timing(const MetricPolicy& p, const std::vector<double>& base, const std::vector<double>& cur,
                    GateRow& row) {
  if (base.size() < p.min_repetitions || cur.size() < p.min_repetitions) {
    row.verdict = GateVerdict::NotCompared;
    row.note = fmt::format("needs >= {} repetitions per side (have {} and {})", p.min_repetitions, base.size(),
                           cur.size());
    return;
  }
  const MannWhitneyResult test = mann_whitney_u(cur, base);
  const double b = median(base), c = median(cur);
  const double effect = b != 0 ? std::abs(c / b - 1) : (c == 0 ? 0 : INFINITY);
  const bool worse_direction = p.lower_is_better ? c > b : c < b;
  const bool significant = test.p_value < p.alpha && effect >= p.min_effect;
  row.verdict = !significant ? GateVerdict::Ok : worse_direction ? GateVerdict::Regression : GateVerdict::Improved;
  row.fails = row.verdict == GateVerdict::Regression;
  row.note = fmt::format("U p={:.3g}{}", test.p_value, test.exact ? " exact" : "");
  if (test.p_value < p.alpha && !significant) row.note += fmt::format(", effect {:.1f}% below minimum", effect * 100);
}

std::string side_reason(const char* side, const std::string& why) {
  return why.empty() ? side : fmt::format("{}: {}", side, why);
}

// Why a value is missing on one or both sides, said once when both agree.
std::string both_reasons(const std::string* base, const std::string* cur) {
  if (base && cur && *base == *cur) return side_reason("both", *base);
  std::string note = base ? side_reason("baseline", *base) : "";
  if (cur) note += (note.empty() ? "" : "; ") + side_reason("current", *cur);
  return note;
}

// `timing_incomparable`: empty, or why the two files' times cannot be set side by side
// (one ran under TCG emulation): their timing metrics are then not compared.
void compare_metrics(const std::string& name, const BenchmarkSamples& base, const BenchmarkSamples& cur,
                     const GatePolicy& policy, const std::string& timing_incomparable, GateReport& report) {
  std::set<std::string> metrics;
  for (const BenchmarkSamples* b : {&base, &cur}) {
    for (const auto& [m, _] : b->samples) metrics.insert(m);
    for (const auto& [m, _] : b->unsupported) metrics.insert(m);
  }
  for (const std::string& metric : metrics) {
    const MetricPolicy& p = policy.of(name, metric);
    if (p.kind == MetricPolicy::Kind::Ignore) continue;
    GateRow row;
    row.benchmark = name;
    row.metric = metric;
    row.policy = policy_text(p);
    const auto b = base.samples.find(metric), c = cur.samples.find(metric);
    const bool have_b = b != base.samples.end(), have_c = c != cur.samples.end();
    if (have_b) row.baseline = samples_text(b->second);
    if (have_c) row.current = samples_text(c->second);
    const auto bu = base.unsupported.find(metric), cu = cur.unsupported.find(metric);
    if (bu != base.unsupported.end() || cu != cur.unsupported.end()) {
      row.verdict = GateVerdict::Unsupported;
      const bool in_base = bu != base.unsupported.end(), in_cur = cu != cur.unsupported.end();
      if (in_base) row.baseline = "unsupported";
      if (in_cur) row.current = "unsupported";
      row.note = both_reasons(in_base ? &bu->second : nullptr, in_cur ? &cu->second : nullptr);
    } else if (!have_c) {
      row.verdict = GateVerdict::Missing;
      row.current = "-";
      row.fails = policy.missing_is_regression;
      row.note = "the current run did not report it";
    } else if (!have_b) {
      row.verdict = GateVerdict::New;
      row.baseline = "-";
    } else {
      row.change = relative_change(median(b->second), median(c->second));  // counters: their reference
      if (p.kind == MetricPolicy::Kind::Report) {
        row.verdict = GateVerdict::Reported;
      } else if (p.kind == MetricPolicy::Kind::Counter) {
        compare_counter(p, b->second, c->second, row);
      } else if (!timing_incomparable.empty()) {
        row.verdict = GateVerdict::NotCompared;
        row.note = timing_incomparable;
      } else {
        compare_timing(p, b->second, c->second, row);
      }
    }
    report.rows.push_back(std::move(row));
  }
}

void compare_benchmark(const std::string& name, const BenchmarkSamples* base, const BenchmarkSamples* cur,
                       const GatePolicy& policy, const std::string& timing_incomparable, GateReport& report) {
  GateRow row;
  row.benchmark = name;
  row.metric = "-";
  if (!cur) {
    row.verdict = GateVerdict::Missing;
    row.fails = policy.missing_is_regression;
    row.note = "benchmark absent from the current run";
  } else if (!base) {
    row.verdict = GateVerdict::New;
    row.note = "benchmark absent from the baseline";
  } else if (base->status == Status::Unsupported || cur->status == Status::Unsupported) {
    row.verdict = GateVerdict::Unsupported;
    row.note = both_reasons(base->status == Status::Unsupported ? &base->reason : nullptr,
                            cur->status == Status::Unsupported ? &cur->reason : nullptr);
  } else if (cur->status == Status::Failed) {
    row.verdict = base->status == Status::Failed ? GateVerdict::NotCompared : GateVerdict::Regression;
    row.fails = base->status != Status::Failed;
    row.note = side_reason("current failed", cur->reason);
  } else if (base->status == Status::Failed) {
    row.verdict = GateVerdict::NotCompared;
    row.note = side_reason("baseline failed", base->reason);
  } else {
    compare_metrics(name, *base, *cur, policy, timing_incomparable, report);
    return;
  }
  report.rows.push_back(std::move(row));
}

std::string host_line(const BenchmarkFile& f) {
  const json& h = f.host;
  auto text = [&](const char* key) -> std::string {
    if (!h.contains(key)) return "?";
    return h[key].is_string() ? h[key].get<std::string>() : h[key].dump();
  };
  if (f.format == "google-benchmark")
    return fmt::format("{} ({}, kernel {}, {} cpus, {}, taken {})", f.path, text("host_name"), text("kernel"),
                       text("num_cpus"), text("cpu_model"), text("date"));
  return fmt::format("{} ({}, kernel {}, {} cpus, {})", f.path, text("hostname"), text("kernel"), text("cpus"),
                     text("cpu_model"));
}

}  // namespace

std::string to_string(GateVerdict verdict) {
  switch (verdict) {
    case GateVerdict::Ok: return "ok";
    case GateVerdict::Regression: return "REGRESSION";
    case GateVerdict::Improved: return "improved";
    case GateVerdict::Unsupported: return "unsupported";
    case GateVerdict::Missing: return "missing";
    case GateVerdict::New: return "new";
    case GateVerdict::NotCompared: return "not compared";
    case GateVerdict::Reported: return "reported";
  }
  return "?";
}

bool GateReport::failed() const {
  return std::any_of(rows.begin(), rows.end(), [](const GateRow& r) { return r.fails; });
}

size_t GateReport::count(GateVerdict verdict) const {
  return size_t(std::count_if(rows.begin(), rows.end(), [&](const GateRow& r) { return r.verdict == verdict; }));
}

size_t GateReport::compared() const {
  return count(GateVerdict::Ok) + count(GateVerdict::Regression) + count(GateVerdict::Improved);
}

bool GateReport::passes(bool allow_empty) const { return !failed() && (allow_empty || compared() > 0); }

GateReport compare_benchmark_files(const BenchmarkFile& baseline, const BenchmarkFile& current,
                                   const GatePolicy& policy) {
  GateReport report;
  auto find = [](const BenchmarkFile& f, const std::string& name) -> const BenchmarkSamples* {
    auto it = f.benchmarks.find(name);
    return it == f.benchmarks.end() ? nullptr : &it->second;
  };
  const std::string timing_incomparable =
      timing_incomparability(timing_domain(baseline.host), timing_domain(current.host));
  for (const std::string& name : baseline.order)
    compare_benchmark(name, find(baseline, name), find(current, name), policy, timing_incomparable, report);
  for (const std::string& name : current.order)
    if (!find(baseline, name)) compare_benchmark(name, nullptr, find(current, name), policy, timing_incomparable, report);
  return report;
}

void print_gate_report(std::ostream& out, const GateReport& report, const BenchmarkFile& baseline,
                       const BenchmarkFile& current, bool allow_empty) {
  fmt::print(out, "baseline: {}\ncurrent:  {}\n", host_line(baseline), host_line(current));
  const json kb = baseline.host.value("kernel", json()), kc = current.host.value("kernel", json());
  if (kb != kc)
    fmt::print(out, "note: baseline and current ran on different kernels; counters may differ for that reason\n");
  const std::string db = timing_domain(baseline.host), dc = timing_domain(current.host);
  if (const std::string why = timing_incomparability(db, dc); !why.empty())
    fmt::print(out, "note: times {}: baseline ran on {}, current on {}; timing metrics are not compared\n", why, db,
               dc);
  size_t name_width = 9, metric_width = 6, policy_width = 6, value_width = 8;
  for (const GateRow& r : report.rows) {
    name_width = std::max(name_width, r.benchmark.size());
    metric_width = std::max(metric_width, r.metric.size());
    policy_width = std::max(policy_width, r.policy.size());
    value_width = std::max({value_width, r.baseline.size(), r.current.size()});
  }
  fmt::print(out, "{:<{}}  {:<{}}  {:<{}}  {:>{}}  {:>{}}  {:>7}  {:<12}  {}\n", "benchmark", name_width, "metric",
             metric_width, "policy", policy_width, "baseline", value_width, "current", value_width, "change",
             "verdict", "note");
  for (const GateRow& r : report.rows)
    fmt::print(out, "{:<{}}  {:<{}}  {:<{}}  {:>{}}  {:>{}}  {:>7}  {:<12}  {}\n", r.benchmark, name_width, r.metric,
               metric_width, r.policy, policy_width, r.baseline, value_width, r.current, value_width, r.change,
               to_string(r.verdict), r.note);
  fmt::print(out,
             "gate: {} — {} compared, {} regression(s), {} improved, {} unsupported, {} missing, {} new, {} not "
             "compared\n",
             report.passes(allow_empty) ? "pass" : "FAIL", report.compared(), report.count(GateVerdict::Regression),
             report.count(GateVerdict::Improved),
             report.count(GateVerdict::Unsupported), report.count(GateVerdict::Missing), report.count(GateVerdict::New),
             report.count(GateVerdict::NotCompared));
  if (report.compared() == 0)
    fmt::print(out, "gate: nothing was compared{}\n",
               allow_empty ? "; passing because of --allow-empty" : ", which fails the gate (--allow-empty accepts that)");
}

int run_gate(const GateOptions& options, std::ostream& out) {
  const GatePolicy policy = options.policy_path.empty() ? default_gate_policy() : load_gate_policy(options.policy_path);
  const BenchmarkFile baseline = load_benchmark_file(options.baseline_path);
  const BenchmarkFile current = load_benchmark_file(options.current_path);
  const GateReport report = compare_benchmark_files(baseline, current, policy);
  print_gate_report(out, report, baseline, current, options.allow_empty);
  return report.passes(options.allow_empty) ? 0 : 1;
}

}  // namespace rcvq
