// libFuzzer target: arbitrary bytes as a scenario file through the strict YAML loader
// (duplicate and non-scalar keys, every section's types and ranges), then, for what it
// accepts, the plan estimate against the plan the planner builds: an exact estimate
// must match it and a bound must hold. Bad input must end in InputError.
#include <cstdio>
#include <string>

#include "common/errors.hpp"
#include "plan/plan.hpp"
#include "plan/plan_estimate.hpp"
#include "scenario/load.hpp"
#include "source/source_stream.hpp"

namespace {

// Plans the fuzzer builds stay far below libFuzzer's 2 GB RSS limit.
constexpr double kMaxPlanBytes = 16 << 20;

void require(bool holds, const char* what, double estimated, double built) {
  if (holds) return;
  std::fprintf(stderr, "plan estimate %s: estimated %.17g, built %.17g\n", what, estimated, built);
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // A capture source reads the named file: the fuzzer must not wander this machine's files.
  if (text.find("capt") != std::string::npos) return 0;
  rcvq::Scenario sc;
  try {
    sc = rcvq::parse_scenario(text, "fuzz.yaml");
  } catch (const rcvq::InputError&) {
    return 0;
  }
  const rcvq::PlanEstimate estimate = rcvq::estimate_synthetic_plan(sc);
  if (estimate.memory_bytes(sc) > kMaxPlanBytes) return 0;
  rcvq::ReplayPlan plan;
  try {
    rcvq::check_plan_budget(sc, estimate);
    plan = rcvq::build_plan(sc, rcvq::generate_synthetic(sc));
  } catch (const rcvq::InputError&) {
    return 0;
  }
  const double duration_s = double(plan.duration_ns()) / 1e9;
  if (estimate.upper_bound) {
    require(estimate.segments >= plan.segments.size(), "segments below the plan's", double(estimate.segments),
            double(plan.segments.size()));
    require(estimate.duration_s >= duration_s - 1e-9, "duration below the plan's", estimate.duration_s, duration_s);
  } else {
    require(estimate.segments == plan.segments.size(), "segments differ", double(estimate.segments),
            double(plan.segments.size()));
    require(std::abs(estimate.duration_s - duration_s) < 1e-6, "duration differs", estimate.duration_s, duration_s);
  }
  require(estimate.frames == plan.frames.size(), "frames differ", double(estimate.frames), double(plan.frames.size()));
  require(estimate.stream_bytes == plan.stream.size(), "stream bytes differ", double(estimate.stream_bytes),
          double(plan.stream.size()));
  return 0;
}
