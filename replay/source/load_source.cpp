#include "capture/capture_stream.hpp"
#include "plan/plan_estimate.hpp"
#include "source/source_stream.hpp"

namespace rcvq {

SourceStream load_source(const Scenario& scenario) {
  if (scenario.source.kind == Source::Kind::Capture) {
    // capture_stream checks the reading against the budget before it reads.
    SourceStream stream = capture_stream(scenario);
    check_plan_budget(scenario, estimate_captured_plan(scenario, stream));
    return stream;
  }
  check_plan_budget(scenario, estimate_synthetic_plan(scenario));
  return generate_synthetic(scenario);
}

}  // namespace rcvq
