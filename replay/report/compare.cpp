#include "report/compare.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <iostream>

#include "common/errors.hpp"
#include "gate/mann_whitney.hpp"
#include "gate/policy.hpp"

namespace rcvq {

using json = nlohmann::json;

const size_t kNoiseTestRepetitions = MetricPolicy{}.min_repetitions;
const double kNoiseTestAlpha = MetricPolicy{}.alpha;

std::optional<double> MetricChange::ratio() const {
  if (!a || !b || *a == 0) return std::nullopt;
  return *b / *a;
}

bool MetricChange::worse() const {
  return verdict == NoiseVerdict::kOutside && (*b > *a) != spec->higher_is_better;
}

bool MetricChange::better() const {
  return verdict == NoiseVerdict::kOutside && (*b > *a) == spec->higher_is_better;
}

NoiseJudgement judge_noise(const std::vector<double>& a, const std::vector<double>& b) {
  NoiseJudgement j;
  if (a.size() >= kNoiseTestRepetitions && b.size() >= kNoiseTestRepetitions) {
    const MannWhitneyResult test = mann_whitney_u(b, a);
    j.test = NoiseTest::kMannWhitney;
    j.p_value = test.p_value;
    j.exact = test.exact;
    j.verdict = test.p_value < kNoiseTestAlpha ? NoiseVerdict::kOutside : NoiseVerdict::kWithin;
    return j;
  }
  if (a.size() < 2 || b.size() < 2) {
    // A single repetition has no range to compare against.
    j.why_unknown = fmt::format("needs 2+ repetitions per run (have {} and {})", a.size(), b.size());
    return j;
  }
  const auto [a_min, a_max] = std::minmax_element(a.begin(), a.end());
  const auto [b_min, b_max] = std::minmax_element(b.begin(), b.end());
  j.test = NoiseTest::kRanges;
  j.verdict = (*b_min > *a_max || *b_max < *a_min) ? NoiseVerdict::kOutside : NoiseVerdict::kWithin;
  return j;
}

std::vector<double> repetition_values(const json& mode, const MetricSpec& spec) {
  std::vector<double> values;
  if (!mode.is_object() || !mode.contains("repetitions") || !mode["repetitions"].is_array()) return values;
  for (const json& rep : mode["repetitions"])
    if (const auto v = metric_value(rep, spec)) values.push_back(*v);
  return values;
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
      c.a_samples = repetition_values(a.mode(mode), spec);
      c.b_samples = repetition_values(b.mode(mode), spec);
      if (!c.a || !c.b) {
        c.why_unknown = c.a ? "not measured in B" : "not measured in A";
      } else if (is_timing(spec) && !timing_incomparable.empty()) {
        c.verdict = NoiseVerdict::kNotComparable;
        c.why_unknown = timing_incomparable;
      } else {
        const NoiseJudgement noise = judge_noise(c.a_samples, c.b_samples);
        c.verdict = noise.verdict;
        c.test = noise.test;
        c.p_value = noise.p_value;
        c.exact = noise.exact;
        c.why_unknown = noise.why_unknown;
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

std::vector<std::string> modes_failed_in_b(const LoadedRun& a, const LoadedRun& b) {
  std::vector<std::string> failed;
  for (const std::string& m : a.mode_names())
    if (a.metrics(m).is_object() && b.mode(m).is_object() && b.mode(m).value("status", "ok") == "failed")
      failed.push_back(m);
  return failed;
}

int compare_exit_code(const LoadedRun& a, const LoadedRun& b) {
  if (!modes_failed_in_b(a, b).empty()) return kCompareExitWorse;
  for (const MetricChange& c : compare_runs(a, b))
    if (c.worse()) return kCompareExitWorse;
  return kExitOk;
}

namespace {

std::string value_text(const std::optional<double>& v, int precision) {
  return v ? fmt::format("{:.{}f}", *v, precision) : "n/a";
}

std::string test_text(const MetricChange& c) {
  if (c.test == NoiseTest::kMannWhitney) return fmt::format("U p={:.3g}{}", *c.p_value, c.exact ? " exact" : "");
  return "";
}

std::string verdict_text(const MetricChange& c) {
  switch (c.verdict) {
    case NoiseVerdict::kOutside: {
      const std::string test = test_text(c);
      return fmt::format("OUTSIDE noise ({}{})", c.worse() ? "worse" : "better", test.empty() ? "" : ", " + test);
    }
    case NoiseVerdict::kWithin: {
      const std::string test = test_text(c);
      return test.empty() ? "within noise" : fmt::format("within noise ({})", test);
    }
    case NoiseVerdict::kUnknown: return "unknown: " + c.why_unknown;
    case NoiseVerdict::kNotComparable: return c.why_unknown;
  }
  return "";
}

// The verdict as a JSON token: worse, better, within_noise, unknown, not_comparable.
std::string verdict_token(const MetricChange& c) {
  switch (c.verdict) {
    case NoiseVerdict::kOutside: return c.worse() ? "worse" : "better";
    case NoiseVerdict::kWithin: return "within_noise";
    case NoiseVerdict::kUnknown: return "unknown";
    case NoiseVerdict::kNotComparable: return "not_comparable";
  }
  return "";
}

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

std::string summary_line(const std::vector<MetricChange>& changes, const std::vector<std::string>& failed) {
  std::vector<std::string> worse;
  size_t better = 0, within = 0, unknown = 0;
  for (const MetricChange& c : changes) {
    if (c.worse()) worse.push_back(fmt::format("{} {}", c.mode, c.spec->label));
    else if (c.better()) ++better;
    else if (c.verdict == NoiseVerdict::kWithin) ++within;
    else ++unknown;
  }
  for (const std::string& m : failed) worse.push_back(m + " failed in B");
  const std::string counts = fmt::format("{} better, {} within noise, {} not judged", better, within, unknown);
  if (worse.empty()) return fmt::format("compare: B is not worse than A beyond the noise ({})", counts);
  return fmt::format("compare: B is WORSE than A in {}: {} ({})", worse.size(), fmt::join(worse, ", "), counts);
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
                 "verdict  [A and B repetitions' min..max]");
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
  fmt::print(out,
             "(noise: a two-sided Mann-Whitney U test, p < {:g}, when both runs have {}+ repetitions; else whether "
             "the repetitions' min..max ranges overlap)\n{}\n",
             kNoiseTestAlpha, kNoiseTestRepetitions, summary_line(changes, modes_failed_in_b(a, b)));
}

json run_comparison_json(const LoadedRun& a, const LoadedRun& b) {
  json doc = {{"format", "rcvqbench-compare/1"},
              {"a", a.json_path},
              {"b", b.json_path},
              {"notes", context_differences(a, b)},
              {"noise_rule",
               {{"mann_whitney_min_repetitions", kNoiseTestRepetitions},
                {"alpha", kNoiseTestAlpha},
                {"otherwise", "min..max ranges of 2+ repetitions per run do not overlap"}}}};
  json& changes = doc["changes"] = json::array();
  for (const MetricChange& c : compare_runs(a, b)) {
    json j = {{"mode", c.mode},
              {"metric", c.spec->pointer.substr(1)},
              {"label", c.spec->label},
              {"unit", c.spec->unit},
              {"higher_is_better", c.spec->higher_is_better},
              {"a", optional_json(c.a)},
              {"b", optional_json(c.b)},
              {"ratio", optional_json(c.ratio())},
              {"a_repetitions", c.a_samples},
              {"b_repetitions", c.b_samples},
              {"predicted", a.predicted(c.mode) || b.predicted(c.mode)},
              {"verdict", verdict_token(c)}};
    j["test"] = c.test == NoiseTest::kMannWhitney ? json("mann-whitney")
                : c.test == NoiseTest::kRanges    ? json("ranges")
                                                  : json(nullptr);
    j["p_value"] = optional_json(c.p_value);
    if (!c.why_unknown.empty()) j["reason"] = c.why_unknown;
    changes.push_back(std::move(j));
  }
  json& modes = doc["modes"] = json::object();
  for (const auto* run : {&a, &b})
    for (const std::string& m : run->mode_names())
      modes[m][run == &a ? "a" : "b"] = {{"status", run->mode(m).value("status", "?")},
                                         {"reason", run->mode(m).value("reason", "")}};
  doc["failed_in_b"] = modes_failed_in_b(a, b);
  const int exit_code = compare_exit_code(a, b);
  doc["verdict"] = exit_code == kExitOk ? "not_worse" : "worse";
  doc["exit_code"] = exit_code;
  return doc;
}

namespace {

// The kernel every other is compared with: the first that wrote a run.json.
size_t reference_kernel(const KernelMatrix& matrix) {
  const std::vector<KernelRunEntry>& kernels = matrix.index.kernels;
  for (size_t i = 0; i < kernels.size(); ++i)
    if (matrix.runs[i]) return i;
  throw InputError(fmt::format("{}: no kernel of this run wrote a run.json", matrix.dir));
}

}  // namespace

int print_kernel_matrix_comparison(std::ostream& out, const KernelMatrix& matrix) {
  const std::vector<KernelRunEntry>& kernels = matrix.index.kernels;
  const size_t reference = reference_kernel(matrix);
  int exit_code = kExitOk;
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
    exit_code = std::max(exit_code, compare_exit_code(*matrix.runs[reference], *matrix.runs[i]));
  }
  if (kernels.size() - reference < 2) fmt::print(out, "only {} has results: nothing to compare it with\n", kernels[reference].label);
  return exit_code;
}

json kernel_matrix_comparison_json(const KernelMatrix& matrix) {
  const std::vector<KernelRunEntry>& kernels = matrix.index.kernels;
  const size_t reference = reference_kernel(matrix);
  json doc = {{"format", "rcvqbench-compare/1"}, {"dir", matrix.dir}, {"reference", kernels[reference].label}};
  json& comparisons = doc["kernels"] = json::array();
  int exit_code = kExitOk;
  for (size_t i = 0; i < kernels.size(); ++i) {
    if (i == reference) continue;
    json entry = {{"a", kernels[reference].label}, {"b", kernels[i].label}};
    if (i < reference || !matrix.runs[i]) {
      entry["comparison"] = nullptr;
      entry["reason"] = fmt::format("no run.json ({}: {})", kernels[i].status, kernels[i].reason);
    } else {
      entry["comparison"] = run_comparison_json(*matrix.runs[reference], *matrix.runs[i]);
      exit_code = std::max(exit_code, entry["comparison"]["exit_code"].get<int>());
    }
    comparisons.push_back(std::move(entry));
  }
  doc["verdict"] = exit_code == kExitOk ? "not_worse" : "worse";
  doc["exit_code"] = exit_code;
  return doc;
}

int compare_command(const std::string& run_a, const std::string& run_b, bool json_out) {
  if (run_b.empty()) {
    if (!is_kernel_matrix_dir(run_a))
      throw InputError(fmt::format("{}: compare needs two runs, or one multi-kernel run directory (with {})", run_a,
                                   kKernelIndexFile));
    const KernelMatrix matrix = load_kernel_matrix(run_a);
    if (!json_out) return print_kernel_matrix_comparison(std::cout, matrix);
    const json doc = kernel_matrix_comparison_json(matrix);
    std::cout << doc.dump(2) << "\n";
    return doc["exit_code"].get<int>();
  }
  for (const std::string& path : {run_a, run_b})
    if (is_kernel_matrix_dir(path))
      throw InputError(fmt::format("{}: a multi-kernel run directory; compare its kernels with `rcvqbench compare {}`, "
                                   "or name one kernel's subdirectory",
                                   path, path));
  const LoadedRun a = load_run(run_a);
  const LoadedRun b = load_run(run_b);
  if (json_out) std::cout << run_comparison_json(a, b).dump(2) << "\n";
  else print_run_comparison(std::cout, a, b);
  return compare_exit_code(a, b);
}

}  // namespace rcvq
