#include "common/stream_hash.hpp"
#include "plan/plan.hpp"
#include "plan/streamed_plan.hpp"

namespace rcvq {

uint64_t ReplayPlan::stream_hash() const {
  if (stream_hash_) return *stream_hash_;
  if (streamed && streamed->stream_hash) return *(stream_hash_ = streamed->stream_hash);
  StreamHash hash;
  if (streamed) {
    // Produced again, frame by frame, as the sender produces it.
    const std::unique_ptr<PlanWalk> walk = walk_plan(*streamed);
    while (walk->next()) hash.update(walk->bytes());
  } else {
    hash.update(stream);
  }
  return *(stream_hash_ = hash.value());
}

}  // namespace rcvq
