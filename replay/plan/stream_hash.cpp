#include "common/stream_hash.hpp"
#include "plan/plan.hpp"

namespace rcvq {

uint64_t ReplayPlan::stream_hash() const {
  if (!stream_hash_) {
    StreamHash hash;
    hash.update(stream);
    stream_hash_ = hash.value();
  }
  return *stream_hash_;
}

}  // namespace rcvq
