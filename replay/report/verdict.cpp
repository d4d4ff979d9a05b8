#include "report/verdict.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <cmath>
#include <ostream>

#include "report/compare.hpp"
#include "report/metric_specs.hpp"

namespace rcvq {

using json = nlohmann::json;

namespace {

const MetricSpec& spec_at(const std::string& pointer) {
  for (const MetricSpec& s : report_metrics())
    if (s.pointer == pointer) return s;
  throw std::logic_error("no report metric at " + pointer);
}

// A change counts when the noise test says so; with too few repetitions to judge, when
// it is at least this large.
constexpr double kUnjudgedChange = 0.01;

struct Effect {
  std::string noun;  // "wakeups"
  const MetricSpec* spec;
  double base = 0, value = 0;
  NoiseJudgement noise;

  double relative() const { return base != 0 ? value / base - 1 : (value == 0 ? 0 : INFINITY); }
  // -1 lower than baseline, +1 higher, 0 not beyond the noise.
  int direction() const {
    switch (noise.verdict) {
      case NoiseVerdict::kOutside: return value < base ? -1 : 1;
      case NoiseVerdict::kWithin: return 0;
      default: return std::abs(relative()) < kUnjudgedChange ? 0 : (value < base ? -1 : 1);
    }
  }
  std::string values() const {
    const std::string unit = spec->unit.empty() ? "/frame" : " " + spec->unit + "/frame";
    return fmt::format("{:.{}f} → {:.{}f}{}", base, spec->precision, value, spec->precision, unit);
  }
};

std::optional<Effect> effect(const LoadedRun& run, const std::string& mode, const std::string& noun,
                             const std::string& pointer) {
  const MetricSpec& spec = spec_at(pointer);
  const auto base = metric_value(run.metrics("baseline"), spec);
  const auto value = metric_value(run.metrics(mode), spec);
  if (!base || !value) return std::nullopt;
  return Effect{noun, &spec, *base, *value,
                judge_noise(repetition_values(run.mode("baseline"), spec), repetition_values(run.mode(mode), spec))};
}

// Latency counts from the planned send, so a sender that fell behind its schedule put
// its own lateness into that mode's latency: the delta is then partly the sender's.
std::string schedule_caveat(const LoadedRun& run, const std::string& mode) {
  std::vector<std::string> late;
  for (const std::string& m : {std::string("baseline"), mode})
    if (const json& metrics = run.metrics(m); metrics.is_object() && metrics.value("schedule_kept", json()) == false)
      late.push_back(m);
  if (late.empty()) return "";
  return fmt::format(" (the sender did not keep its schedule in {}: its lateness is in these latencies)",
                     fmt::join(late, " and "));
}

std::string percent(double relative) { return fmt::format("{:.0f}%", std::abs(relative) * 100); }

std::string mode_sentence(const LoadedRun& run, const std::string& mode) {
  const bool predicted = run.predicted(mode);
  std::vector<Effect> effects;
  for (const auto& [noun, pointer] :
       std::vector<std::pair<std::string, std::string>>{{"wakeups", "/wakeups_per_frame"},
                                                        {"syscalls", "/syscalls_per_frame"},
                                                        {"receiver-thread CPU", "/cpu_us_per_frame"},
                                                        {"receive-path CPU", "/receive_path_cpu_us_per_frame"}})
    if (auto e = effect(run, mode, noun, pointer)) effects.push_back(*e);
  std::vector<std::string> saves, costs;
  bool unjudged = false;
  for (const Effect& e : effects) {
    unjudged = unjudged || e.noise.verdict == NoiseVerdict::kUnknown;
    if (e.direction() < 0) saves.push_back(fmt::format("{} of {} ({})", percent(e.relative()), e.noun, e.values()));
    if (e.direction() > 0) costs.push_back(fmt::format("{} more {} ({})", percent(e.relative()), e.noun, e.values()));
  }
  std::string s = fmt::format("{}{}: ", mode, predicted ? " (predicted)" : "");
  const char* save_verb = predicted ? "would save " : "saves ";
  s += saves.empty() ? std::string(save_verb) + "nothing beyond the noise" : save_verb + fmt::format("{}", fmt::join(saves, ", "));
  if (!costs.empty()) s += fmt::format("; {} {}", predicted ? "would cost" : "costs", fmt::join(costs, ", "));
  if (predicted) {
    s += "; CPU and latency are not predicted";
  } else {
    std::vector<std::string> latency;
    for (const auto& [label, pointer] :
         std::vector<std::pair<std::string, std::string>>{{"p50", "/latency_ns/p50"}, {"p99", "/latency_ns/p99"}}) {
      const auto e = effect(run, mode, label, pointer);
      if (!e) continue;
      unjudged = unjudged || e->noise.verdict == NoiseVerdict::kUnknown;
      latency.push_back(fmt::format("{} {:+.1f} µs ({}{:.0f}%{})", label, e->value - e->base,
                                    e->value < e->base ? "-" : "+", std::abs(e->relative()) * 100,
                                    e->direction() == 0 ? ", within noise" : ""));
    }
    if (!latency.empty()) s += fmt::format("; latency {}{}", fmt::join(latency, ", "), schedule_caveat(run, mode));
  }
  if (unjudged)
    s += fmt::format(" (changes without 2+ repetitions a side to test against the noise are named from {:.0f}%)",
                     kUnjudgedChange * 100);
  return s;
}

}  // namespace

std::vector<std::string> RunVerdict::lines() const {
  std::vector<std::string> out;
  if (!nothing_to_save.empty()) out.push_back(nothing_to_save);
  if (!missing.empty()) out.push_back(missing);
  out.insert(out.end(), modes.begin(), modes.end());
  return out;
}

RunVerdict run_verdict(const LoadedRun& run) {
  RunVerdict v;
  const json& base = run.metrics("baseline");
  if (!base.is_object()) {
    v.missing = "no verdict: baseline produced no metrics, and every mode is judged against it";
    return v;
  }
  const auto achieved = number_at(base, "/segments_per_frame_achieved");
  const auto planned = number_at(base, "/segments_per_frame_planned");
  if (const auto segments = achieved ? achieved : planned; segments && *segments < kOneSegmentPerFrame)
    v.nothing_to_save = fmt::format(
        "frames already arrive in one segment ({:.2f} segments/frame {} in baseline): no receiver mode can save "
        "anything for this traffic; what differs below is each mode's own overhead and noise",
        *segments, achieved ? "achieved" : "planned");
  for (const std::string& mode : run.mode_names())
    if (mode != "baseline" && run.metrics(mode).is_object()) v.modes.push_back(mode_sentence(run, mode));
  if (v.modes.empty()) v.missing = "no verdict: no mode other than baseline produced metrics";
  return v;
}

void print_run_verdict(std::ostream& out, const LoadedRun& run) {
  fmt::print(out, "verdict (against baseline, per frame):\n");
  for (const std::string& line : run_verdict(run).lines()) fmt::print(out, "  {}\n", line);
}

}  // namespace rcvq
