// The shared receiver harness on its own: what it leaves behind when a mode fails.
#include <gtest/gtest.h>

#include "common/errors.hpp"
#include "probes/data_ready.hpp"
#include "receiver/harness.hpp"
#include "scenario/load.hpp"
#include "transport/network.hpp"

namespace rcvq {
namespace {

class ModeThatCannotPrepare : public ReceiverMode {
 public:
  void prepare(int) override { throw RunError("the kernel refused this mode's programs"); }
};

// A mode whose setup fails (strparser on a kernel that refuses its programs) must not
// keep the listener: every later mode and repetition binds the same port.
TEST(ReceiverHarness, AModeThatFailsToPrepareLeavesTheListenPortFree) {
  const Scenario sc = parse_scenario("source: {synthetic: {frames: 1, payload: 100}}\n"
                                     "transport: {kind: loopback}\n",
                                     "harness.yaml");
  const std::unique_ptr<Network> network = make_network(sc);
  DataReadyProbe data_ready(false);
  ModeThatCannotPrepare failing;
  EXPECT_THROW({ ReceiverHarness h(sc, *network, failing, data_ready); }, RunError);
  ReceiverMode plain;
  EXPECT_NO_THROW({ ReceiverHarness h(sc, *network, plain, data_ready); });
}

}  // namespace
}  // namespace rcvq
