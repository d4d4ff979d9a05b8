#include "report/compare.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <iostream>

#include "common/errors.hpp"

namespace rcvq {

using json = nlohmann::json;

std::optional<double> MetricChange::ratio() const {
  if (!a || !b || *a == 0) return std::nullopt;
  return *b / *a;
}

NoiseVerdict judge_noise(const std::optional<Spread>& a, const std::optional<Spread>& b, std::string* why) {
  if (!a || !b) {
    if (why) *why = "no spread recorded";
    return NoiseVerdict::kUnknown;
  }
  if (a->n < 2 || b->n < 2) {
    // A single repetition has no range to compare against.
    if (why) *why = "needs 2+ repetitions per run";
    return NoiseVerdict::kUnknown;
  }
  return (b->min > a->max || b->max < a->min) ? NoiseVerdict::kOutside : NoiseVerdict::kWithin;
}

std::vector<MetricChange> compare_runs(const LoadedRun& a, const LoadedRun& b) {
  std::vector<std::string> modes = a.mode_names();
  for (const std::string& m : b.mode_names())
    if (std::find(modes.begin(), modes.end(), m) == modes.end()) modes.push_back(m);
  const std::string timing_incomparable = timing_incomparability(a.timing_domain(), b.timing_domain());
  std::vector<MetricChange> changes;
  for (const std::string& mode : modes) {
    const json& ma = a.metrics(mode);
    const json& mb = b.metrics(mode);
    if (!ma.is_object() && !mb.is_object()) continue;
    for (const MetricSpec& spec : report_metrics()) {
      MetricChange c;
      c.mode = mode;
      c.spec = &spec;
      c.a = metric_value(ma, spec);
      c.b = metric_value(mb, spec);
      if (!c.a && !c.b) continue;
      c.a_spread = metric_spread(ma, spec);
      c.b_spread = metric_spread(mb, spec);
      if (!c.a || !c.b) {
        c.why_unknown = c.a ? "not measured in B" : "not measured in A";
      } else if (is_timing(spec) && !timing_incomparable.empty()) {
        c.verdict = NoiseVerdict::kNotComparable;
        c.why_unknown = timing_incomparable;
      } else {
        c.verdict = judge_noise(c.a_spread, c.b_spread, &c.why_unknown);
      }
      changes.push_back(c);
    }
  }
  return changes;
}

std::vector<std::string> context_differences(const LoadedRun& a, const LoadedRun& b) {
  std::vector<std::string> diffs;
  auto differ = [&](const std::string& label, const std::string& pointer) {
    const json::json_pointer p(pointer);
    const json va = a.run.contains(p) ? a.run[p] : json();
    const json vb = b.run.contains(p) ? b.run[p] : json();
    if (va != vb)
      diffs.push_back(fmt::format("{} differs: A {} / B {}", label, va.is_string() ? va.get<std::string>() : va.dump(),
                                  vb.is_string() ? vb.get<std::string>() : vb.dump()));
  };
  differ("scenario name", "/scenario/name");
  const json ca = a.run.contains(json::json_pointer("/scenario/config")) ? a.run["scenario"]["config"] : json();
  const json cb = b.run.contains(json::json_pointer("/scenario/config")) ? b.run["scenario"]["config"] : json();
  if (ca != cb) diffs.push_back("scenario configuration differs: the two runs replayed different input");
  differ("kernel", "/host/kernel");
  const std::string incomparable = timing_incomparability(a.timing_domain(), b.timing_domain());
  if (!incomparable.empty())
    diffs.push_back(fmt::format("times {}: A ran on {}, B on {}; counts compare, CPU, latency and throughput do not",
                                incomparable, a.timing_domain(), b.timing_domain()));
  differ("transport", "/transport/kind");
  differ("frames", "/plan/frames");
  return diffs;
}

namespace {

std::string value_text(const std::optional<double>& v, int precision) {
  return v ? fmt::format("{:.{}f}", *v, precision) : "n/a";
}

std::string verdict_text(const MetricChange& c) {
  switch (c.verdict) {
    case NoiseVerdict::kOutside: {
      const bool up = *c.b > *c.a;
      const bool better = up == c.spec->higher_is_better;
      return fmt::format("OUTSIDE noise ({})", better ? "better" : "worse");
    }
    case NoiseVerdict::kWithin: return "within noise";
    case NoiseVerdict::kUnknown: return "unknown: " + c.why_unknown;
    case NoiseVerdict::kNotComparable: return c.why_unknown;
  }
  return "";
}

}  // namespace

void print_run_comparison(std::ostream& out, const LoadedRun& a, const LoadedRun& b) {
  fmt::print(out, "A: {}\nB: {}\n", a.json_path, b.json_path);
  for (const std::string& d : context_differences(a, b)) fmt::print(out, "note: {}\n", d);
  const std::vector<MetricChange> changes = compare_runs(a, b);
  if (changes.empty()) {
    fmt::print(out, "no mode has metrics in either run\n");
    return;
  }
  std::string mode;
  for (const MetricChange& c : changes) {
    if (c.mode != mode) {
      mode = c.mode;
      const bool predicted = a.predicted(mode) || b.predicted(mode);
      fmt::print(out, "\n{}{}\n  {:<28} {:>12} {:>12} {:>12} {:>8}  {}\n", mode,
                 predicted ? " (PREDICTED by the userspace model)" : "", "metric", "A", "B", "B-A", "B/A",
                 "verdict (A and B repetitions' min..max)");
    }
    const MetricSpec& s = *c.spec;
    const std::string label = s.unit.empty() ? s.label : s.label + " (" + s.unit + ")";
    const std::string delta = c.a && c.b ? fmt::format("{:+.{}f}", *c.b - *c.a, s.precision) : "";
    const std::string ratio = c.ratio() ? fmt::format("{:.3f}", *c.ratio()) : "";
    std::string ranges;
    if (c.a_spread && c.b_spread)
      ranges = fmt::format("  [{:.{}f}..{:.{}f} vs {:.{}f}..{:.{}f}]", c.a_spread->min, s.precision, c.a_spread->max,
                           s.precision, c.b_spread->min, s.precision, c.b_spread->max, s.precision);
    fmt::print(out, "  {:<28} {:>12} {:>12} {:>12} {:>8}  {}{}\n", label, value_text(c.a, s.precision),
               value_text(c.b, s.precision), delta, ratio, verdict_text(c), ranges);
  }
  for (const auto* run : {&a, &b})
    for (const std::string& m : run->mode_names()) {
      const json& mj = run->mode(m);
      if (mj.value("status", "ok") != "ok")
        fmt::print(out, "{}: {} {}: {}\n", run == &a ? "A" : "B", m, mj.value("status", ""), mj.value("reason", ""));
    }
}

void print_kernel_matrix_comparison(std::ostream& out, const KernelMatrix& matrix) {
  const std::vector<KernelRunEntry>& kernels = matrix.index.kernels;
  size_t reference = kernels.size();
  for (size_t i = 0; i < kernels.size() && reference == kernels.size(); ++i)
    if (matrix.runs[i]) reference = i;
  if (reference == kernels.size()) throw InputError(fmt::format("{}: no kernel of this run wrote a run.json", matrix.dir));
  for (size_t i = 0; i < reference; ++i)
    fmt::print(out, "note: {} is not the reference, it has no run.json ({}: {})\n", kernels[i].label,
               kernels[i].status, kernels[i].reason);
  for (size_t i = reference + 1; i < kernels.size(); ++i) {
    fmt::print(out, "{}=== A = {} vs B = {} ===\n", i > reference + 1 ? "\n" : "", kernels[reference].label,
               kernels[i].label);
    if (!matrix.runs[i]) {
      fmt::print(out, "{}: no run.json ({}: {})\n", kernels[i].label, kernels[i].status, kernels[i].reason);
      continue;
    }
    print_run_comparison(out, *matrix.runs[reference], *matrix.runs[i]);
  }
  if (kernels.size() - reference < 2) fmt::print(out, "only {} has results: nothing to compare it with\n", kernels[reference].label);
}

int compare_command(const std::string& run_a, const std::string& run_b) {
  if (run_b.empty()) {
    if (!is_kernel_matrix_dir(run_a))
      throw InputError(fmt::format("{}: compare needs two runs, or one multi-kernel run directory (with {})", run_a,
                                   kKernelIndexFile));
    print_kernel_matrix_comparison(std::cout, load_kernel_matrix(run_a));
    return kExitOk;
  }
  for (const std::string& path : {run_a, run_b})
    if (is_kernel_matrix_dir(path))
      throw InputError(fmt::format("{}: a multi-kernel run directory; compare its kernels with `rcvqbench compare {}`, "
                                   "or name one kernel's subdirectory",
                                   path, path));
  const LoadedRun a = load_run(run_a);
  const LoadedRun b = load_run(run_b);
  print_run_comparison(std::cout, a, b);
  return kExitOk;
}

}  // namespace rcvq
