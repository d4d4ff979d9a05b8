#include "common/stream_hash.hpp"
#include "plan/plan.hpp"
#include "plan/streamed_plan.hpp"

namespace rcvq {

uint64_t ReplayPlan::stream_hash() const {
  if (!stream_hash_) {
    StreamHash hash;
    if (streamed) {
      // Generated again, frame by frame, from the scenario the sender generates it from.
      SyntheticPlanWalk walk(*streamed->scenario);
      while (walk.next()) hash.update(walk.bytes());
    } else {
      hash.update(stream);
    }
    stream_hash_ = hash.value();
  }
  return *stream_hash_;
}

}  // namespace rcvq
