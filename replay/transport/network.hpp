#pragma once
#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/errors.hpp"
#include "common/stop.hpp"
#include "plan/frame_send_ring.hpp"
#include "plan/plan.hpp"
#include "results/histogram.hpp"
#include "scenario/scenario.hpp"
#include "transport/netns.hpp"

namespace rcvq {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // "198.18.0.2:5001"

  static Endpoint parse(const std::string& ip, uint16_t port);
  int family() const { return addr.ss_family; }
};

// What the sender of a streamed plan records instead of a time per segment.
struct StreamedSendRecord {
  Histogram lateness;  // ns each measured segment was handed over after its planned time
  std::vector<int64_t> timeline_sent_ns;  // per segment of the plan's timeline excerpt
};

// The sending side of one mode run: whatever puts the plan's segments onto the wire
// towards the receiver's listener (kernel sockets, or a userspace TCP peer on a TAP).
class Replayer {
 public:
  virtual ~Replayer() = default;
  // Opens `connections` connections; returns once the receiver's kernel has completed
  // every handshake (they wait in the listen backlog).
  virtual void connect(uint32_t connections) = 0;
  // Sends every planned segment on every connection at t0_ns + send_at_ns, recording
  // in sent_ns[i] when segment i was handed over. Returns early on a stop request, also
  // from the middle of a pacing gap.
  virtual void replay(const ReplayPlan& plan, int64_t t0_ns, std::vector<int64_t>& sent_ns,
                      const StopSignal& stop) = 0;
  // The same for a streamed plan, generated frame by frame as it is sent: each frame's
  // send time goes to `ring` for the receivers. Only kernel-socket senders stream
  // (why_plan_cannot_stream).
  virtual void replay_streamed(const ReplayPlan& /*plan*/, int64_t /*t0_ns*/, FrameSendRing& /*ring*/,
                               StreamedSendRecord& /*record*/, const StopSignal& /*stop*/) {
    throw RunError("this transport replays held plans only");
  }
  // Ends every connection with FIN once the receiver may have everything.
  virtual void finish() = 0;
  // Closes every descriptor the replayer opened (sockets, timers), on the thread whose
  // table holds them (see SenderThread); the destructor closes whatever is still open.
  virtual void close_descriptors() {}
  // What the sender saw, for run.json (e.g. window stalls, retransmissions).
  virtual nlohmann::json stats() const { return nlohmann::json::object(); }
};

// The namespaces and links of one transport, created for a run and destroyed with it.
class Network {
 public:
  virtual ~Network() = default;
  virtual const Netns& receiver_netns() const = 0;
  // Where the kernel-socket sender connects from (loopback: the receiver's namespace,
  // veth: the peer's), for a reference tool to use the same path; null when the sender
  // is no kernel socket on this host (tap, a remote agent).
  virtual const Netns* sender_netns() const { return nullptr; }
  virtual Endpoint listen_endpoint() const = 0;
  virtual std::unique_ptr<Replayer> make_replayer(const Scenario& scenario) = 0;
  // Devices, MTU, offloads as configured: echoed into run.json.
  virtual nlohmann::json describe() const = 0;
};

std::unique_ptr<Network> make_network(const Scenario& scenario);
// The kernel-socket sender of loopback and veth, connecting from namespace `ns`.
std::unique_ptr<Replayer> make_socket_replayer(const Netns& ns, Endpoint target, const Segmentation& segmentation,
                                               int connect_timeout_ms);

}  // namespace rcvq
