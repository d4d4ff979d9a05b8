#include "capture/capture_stream.hpp"

#include "common/errors.hpp"

namespace rcvq {

SourceStream capture_stream(const Scenario& scenario) {
  throw InputError(scenario.source.capture.path + ": capture replay is not implemented yet");
}

}  // namespace rcvq
