#pragma once
// The control protocol between `rcvqbench run --remote` (the client, which sends) and
// `rcvqbench serve` (the agent, which runs the receiver modes on its host).
//
// Every message is a 4-byte big-endian length followed by that many bytes of one JSON
// object with a "type". A session is:
//   client: hello {protocol, version[, token]}   agent: hello {protocol, version, host, probe}
//   client: setup {scenario, modes, plan}        agent: setup {unsupported, kernel_caveats, transport, data_endpoint}
//   per mode and repetition:
//     client: clock {t1} x N                     agent: clock {t1, t2, t3}
//     client: prepare {mode}                     agent: prepared
//     (client connects the data connections)
//     client: accept                             agent: accepted
//     client: start {t0_ns, deadline_ns}          (agent receives; client sends the data)
//     client: sent {sent_ns}                     agent: repetition {...}
//   client: bye                                  agent: bye
// Either side may answer with error {message}; a client's stop ends the session.
// Times the agent is given are on its own CLOCK_MONOTONIC (the client converts them
// with the measured offset).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/errors.hpp"
#include "plan/plan.hpp"
#include "results/run_result.hpp"
#include "scenario/scenario.hpp"

namespace rcvq::remote {

using json = nlohmann::json;

inline constexpr int kProtocolVersion = 1;
// Only for tests: the agent claims this protocol version instead of its own.
inline constexpr const char* kTestProtocolVersionEnv = "RCVQBENCH_TEST_PROTOCOL_VERSION";
// A plan's stream travels inside one message: bounded so a corrupt length cannot make
// a peer allocate without limit.
inline constexpr uint32_t kMaxMessageBytes = 1u << 30;

// The channel itself failed: end of file, a timeout, a malformed message.
class ChannelError : public RunError {
 public:
  using RunError::RunError;
};

// The peer answered with an error message (its text is the what()).
class PeerError : public RunError {
 public:
  using RunError::RunError;
};

// One end of the control connection over a pair of file descriptors (ssh's pipes, the
// agent's stdin/stdout, or one socket twice). Not owning: the caller closes them.
class Channel {
 public:
  // `peer` names the other side in messages ("the agent at host", "the client").
  Channel(int read_fd, int write_fd, std::string peer);

  // Throws ChannelError when the message cannot be written within `timeout_ms`.
  void send(const json& message, int timeout_ms = kDefaultTimeoutMs);
  // The next message, within `timeout_ms`; `step` says what was awaited, for the error.
  // Also returns early, with a null json, when one of `wake_fds` becomes readable.
  json receive(int timeout_ms, std::string_view step, std::vector<int> wake_fds = {});
  // Whether a message (or the end of the connection) is waiting, within `timeout_ms`;
  // false also when one of `wake_fds` became readable first.
  bool readable(int timeout_ms, const std::vector<int>& wake_fds = {});
  // receive() of a message of `type`; an error message throws PeerError with its text.
  json expect(std::string_view type, int timeout_ms, std::string_view step);
  const std::string& peer() const { return peer_; }

  static constexpr int kDefaultTimeoutMs = 10'000;

 private:
  // False when a wake fd fired first.
  bool read_exact(uint8_t* data, size_t len, int64_t deadline_ns, int timeout_ms, std::string_view step,
                  const std::vector<int>& wake_fds);

  int in_, out_;
  std::string peer_;
};

// A control connection over TCP notices a cut network within seconds, not hours.
void keep_alive(int socket_fd);

// An error message as both sides print it.
json error_message(const std::string& text);

std::string base64_encode(const uint8_t* data, size_t len);
// Throws ChannelError on a character outside the alphabet or a bad length.
std::vector<uint8_t> base64_decode(std::string_view text);

// The plan as the agent needs it: stream, segments, frames, warm-up.
json plan_to_json(const ReplayPlan& plan);
ReplayPlan plan_from_json(const json& j);

// The scenario fields a receiver reads (framing, receiver, run timeout, device), and
// nothing that names a file. Throws InputError for a field the agent does not take.
json receiver_scenario_to_json(const Scenario& scenario);
Scenario receiver_scenario_from_json(const json& j);

// A repetition with every histogram, counter and reason, losslessly.
json repetition_to_json(const ModeRepetition& rep);
ModeRepetition repetition_from_json(const json& j);

// One NTP-style exchange: t1 client send, t2 agent receive, t3 agent send, t4 client
// receive. `offset` is agent clock minus client clock; the true offset lies within
// offset +- uncertainty whatever the two paths' delays (causality bounds it).
struct ClockSample {
  int64_t t1 = 0, t2 = 0, t3 = 0, t4 = 0;
  int64_t round_trip_ns() const { return (t4 - t1) - (t3 - t2); }
  int64_t offset_ns() const { return ((t2 - t1) + (t3 - t4)) / 2; }
  int64_t uncertainty_ns() const { return (round_trip_ns() + 1) / 2; }
};
// The sample with the smallest round trip: its bound is the tightest.
ClockSample best_clock_sample(const std::vector<ClockSample>& samples);

// Latency across two hosts is only as good as the clock offset: the reason it is
// unavailable when the offset's uncertainty exceeds the median latency, else "".
std::string latency_unavailable_reason(int64_t uncertainty_ns, int64_t median_latency_ns);

}  // namespace rcvq::remote
