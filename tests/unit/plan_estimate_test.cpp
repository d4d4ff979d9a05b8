// The plan estimate against the plans the planner builds: exact where the scenario fixes
// the cut, a bound where it is drawn or packet effects apply, and the budget refusal.
#include <gtest/gtest.h>

#include <string>

#include "common/errors.hpp"
#include "plan/plan.hpp"
#include "plan/plan_estimate.hpp"
#include "scenario/load.hpp"
#include "source/source_stream.hpp"

namespace rcvq {
namespace {

Scenario scenario(const std::string& yaml) { return parse_scenario(yaml, "estimate.yaml"); }

// The estimate of `yaml`'s plan against the plan itself: stream and frames always
// exact, segments and duration exact or, for a bound, never below the plan's.
void expect_estimate_holds(const std::string& yaml, bool bound) {
  const Scenario sc = scenario(yaml);
  const PlanEstimate e = estimate_synthetic_plan(sc);
  const ReplayPlan plan = build_plan(sc, generate_synthetic(sc));
  EXPECT_EQ(e.upper_bound, bound);
  EXPECT_EQ(e.stream_bytes, plan.stream.size());
  EXPECT_EQ(e.frames, plan.frames.size());
  const double duration_s = double(plan.duration_ns()) / 1e9;
  if (bound) {
    EXPECT_GE(e.segments, plan.segments.size());
    EXPECT_GE(e.duration_s, duration_s);
  } else {
    EXPECT_EQ(e.segments, plan.segments.size());
    EXPECT_DOUBLE_EQ(e.duration_s, duration_s);
  }
}

TEST(PlanEstimate, MatchesThePlanForEveryFixedCut) {
  const std::string source =
      "source: {synthetic: {frames: 40, header: [0, 7, 30], payload: {min: 1, max: 5000}, seed: 3}}\n";
  for (const std::string cut : {"whole", "{fixed: 700}", "{chunks: 3}", "{sizes: [5, 100, 9]}", "{split-descriptor: 3}"}) {
    SCOPED_TRACE(cut);
    expect_estimate_holds(source + "segmentation: {cut: " + cut + ", chunk_gap_us: 7, frame_gap_us: 50}\n", false);
  }
}

TEST(PlanEstimate, BoundsRandomCutsAndTapPacketEffects) {
  for (const std::string yaml :
       {"segmentation: {cut: {random: {min: 10, max: 900}}, chunk_gap_us: 3}\n",
        "transport: {kind: tap, mtu: 1000}\nsegmentation: {cut: {sizes: [3000, 100]}, effects: {duplicate: {every: 3}, "
        "drop: {every: 5, retransmit_after_us: 400}, overlap: {every: 4, bytes: 600}, gaps_us: [5, 20]}}\n"}) {
    SCOPED_TRACE(yaml);
    expect_estimate_holds("source: {synthetic: {frames: 30, payload: {min: 100, max: 9000}}}\n" + yaml, true);
  }
}

TEST(PlanEstimate, RefusesWhatExceedsTheBudgetNamingTheKeys) {
  const Scenario huge = scenario("source: {synthetic: {frames: 10000000, payload: 1073741824}}\n");
  try {
    check_plan_budget(huge, estimate_synthetic_plan(huge));
    FAIL() << "a 10 PB plan passed";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("estimate.yaml: the plan needs"), std::string::npos) << message;
    EXPECT_NE(message.find("run.max_memory_mb 4096"), std::string::npos) << message;
    EXPECT_NE(message.find("source.synthetic.frames"), std::string::npos) << message;
  }
  // The limit is the scenario's to raise.
  const std::string frames = "source: {synthetic: {frames: 2000, payload: 1000}}\n";
  EXPECT_THROW(check_plan_budget(scenario(frames + "run: {max_memory_mb: 1}\n"),
                                 estimate_synthetic_plan(scenario(frames + "run: {max_memory_mb: 1}\n"))),
               InputError);
  const Scenario raised = scenario(frames + "run: {max_memory_mb: 3}\n");
  EXPECT_NO_THROW(check_plan_budget(raised, estimate_synthetic_plan(raised)));
  const Scenario slow = scenario(frames + "segmentation: {frame_gap_us: 1000000}\nrun: {max_duration_s: 1000}\n");
  EXPECT_THROW(check_plan_budget(slow, estimate_synthetic_plan(slow)), InputError);
}

}  // namespace
}  // namespace rcvq
