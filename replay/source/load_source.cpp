#include "capture/capture_stream.hpp"
#include "source/source_stream.hpp"

namespace rcvq {

SourceStream load_source(const Scenario& scenario) {
  if (scenario.source.kind == Source::Kind::Capture) return capture_stream(scenario);
  return generate_synthetic(scenario);
}

}  // namespace rcvq
