// The receiver host's side of a two-host run: it runs nothing but the receiver modes
// (harness, probes, BPF programs) on its own addresses, for plans the client sends.
#include "remote/agent.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

#include "common/build_info.hpp"
#include "common/clock.hpp"
#include "common/fd.hpp"
#include "common/input_file.hpp"
#include "common/stop.hpp"
#include "probes/data_ready.hpp"
#include "probes/host_probe.hpp"
#include "probes/net_softirq.hpp"
#include "receiver/harness.hpp"
#include "receiver/mode.hpp"
#include "remote/nic.hpp"
#include "run/thread_placement.hpp"
#include "transport/network.hpp"
#include "transport/tap/skb_layout_probe.hpp"

namespace rcvq::remote {
namespace {

// Between two requests of a session the client only plans or prints; longer silence
// means it is gone without closing the connection.
constexpr int kIdleTimeoutMs = 300'000;
// Receiving a plan, probing the host and loading probes.
constexpr int kSetupTimeoutMs = 60'000;
// Beyond the repetition's own deadline: the client's last sends and its message.
constexpr int64_t kSentGraceNs = 10'000'000'000;

int claimed_protocol_version() {
  const char* claimed = std::getenv(kTestProtocolVersionEnv);
  return claimed && *claimed ? std::atoi(claimed) : kProtocolVersion;
}

// The receiver's side of the transport: this host's own namespace and address.
class AgentNetwork : public Network {
 public:
  AgentNetwork(Endpoint endpoint, nlohmann::json nic)
      : ns_(Netns::current()), endpoint_(std::move(endpoint)), nic_(std::move(nic)) {}
  const Netns& receiver_netns() const override { return ns_; }
  Endpoint listen_endpoint() const override { return endpoint_; }
  std::unique_ptr<Replayer> make_replayer(const Scenario&) override {
    throw RunError("the agent sends nothing: the client replays the plan");
  }
  nlohmann::json describe() const override { return nic_; }

 private:
  Netns ns_;
  Endpoint endpoint_;
  nlohmann::json nic_;
};

// A port free on `address` now, for every repetition's listener (SO_REUSEADDR binds it again).
uint16_t free_port(const std::string& address) {
  Endpoint probe = Endpoint::parse(address, 0);
  Fd fd(socket(probe.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw_errno("socket");
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&probe.addr), probe.len) != 0)
    throw_errno("bind " + probe.text + " for the data connection");
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) throw_errno("getsockname");
  return ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

class Session {
 public:
  Session(Channel& channel, std::string data_address, std::string token)
      : ch_(channel), data_address_(std::move(data_address)), token_(std::move(token)) {}

  void run() {
    hello();
    for (;;) {
      const json request = ch_.receive(kIdleTimeoutMs, "waiting for the client's next request", {global_stop().fd()});
      if (request.is_null()) return stopped_by_signal();
      const std::string type = request["type"].get<std::string>();
      if (type == "bye") {
        ch_.send({{"type", "bye"}});
        return;
      }
      if (type == "clock") {
        const int64_t received = monotonic_ns();
        ch_.send({{"type", "clock"}, {"t1", request.value("t1", int64_t(0))}, {"t2", received}, {"t3", monotonic_ns()}});
        continue;
      }
      if (type == "stop") {
        ch_.send({{"type", "stopped"}});
        return;
      }
      try {
        if (type == "setup") setup(request);
        else if (type == "prepare") prepare(request);
        else if (type == "accept") accept();
        else if (type == "start") {
          if (!repetition(request)) return;
        } else
          throw InputError(fmt::format("unknown request '{}'", type));
      } catch (const ChannelError&) {
        throw;
      } catch (const std::exception& e) {
        // The repetition is lost, the session is not: the client marks the mode failed.
        harness_.reset();
        mode_.reset();
        ch_.send(error_message(e.what()));
      }
    }
  }

 private:
  static StopSignal& global_stop() { return StopSignal::instance(); }

  void stopped_by_signal() {
    ch_.send(error_message("the agent was stopped by a signal"));
  }

  void hello() {
    const json hello = ch_.receive(Channel::kDefaultTimeoutMs, "waiting for the client's hello");
    const int ours = claimed_protocol_version();
    if (hello["type"] != "hello" || !hello.contains("protocol") || !hello["protocol"].is_number_integer()) {
      ch_.send(error_message("expected a hello with a protocol version"));
      throw ChannelError("the client sent no hello");
    }
    if (!token_.empty() && hello.value("token", "") != token_) {
      ch_.send(error_message("refused: the client's token does not match the agent's --token-file"));
      throw ChannelError("refused a client without the token");
    }
    const int theirs = hello["protocol"].get<int>();
    if (theirs != ours) {
      const std::string why = fmt::format(
          "protocol version mismatch: the client (rcvqbench {}) speaks {}, this agent (rcvqbench {}) speaks {}; "
          "install the same rcvqbench on both hosts",
          hello.value("version", "?"), theirs, build_info().version, ours);
      ch_.send(error_message(why));
      throw ChannelError(why);
    }
    probe_ = probe_host();
    ch_.send({{"type", "hello"},
              {"protocol", ours},
              {"version", build_info().version},
              {"commit", build_info().commit},
              {"host", describe_host()},
              {"probe", probe_.to_json()}});
  }

  void setup(const json& request) {
    if (!request.contains("scenario") || !request.contains("plan") || !request.contains("modes"))
      throw InputError("setup needs scenario, plan and modes");
    sc_ = receiver_scenario_from_json(request["scenario"]);
    plan_ = plan_from_json(request["plan"]);
    std::string address = data_address_;
    if (!sc_->transport.remote_device.empty())
      address = device_address(sc_->transport.remote_device, Endpoint::parse(data_address_, 0).family());
    const uint16_t port = free_port(address);
    const Endpoint endpoint = Endpoint::parse(address, port);
    const std::string device = device_of_address(address);
    layout_.reset();
    net_ = std::make_unique<AgentNetwork>(endpoint, describe_nic(device, address));
    // Whether payload really arrives in page frags (header/data split) on this NIC.
    layout_ = std::make_unique<tap::SkbLayoutProbe>(net_->receiver_netns(), device, port);
    data_ready_ = std::make_unique<DataReadyProbe>(false);
    softirq_ = std::make_unique<NetSoftirqProbe>();
    json unsupported = json::object(), caveats = json::object();
    for (const std::string& name : request["modes"].get<std::vector<std::string>>()) {
      const ModeDefinition* def = find_mode(name);
      if (!def) unsupported[name] = "this agent's rcvqbench has no mode of that name";
      else if (ModeSupport why = def->unsupported(*sc_, probe_)) unsupported[name] = *why;
      else if (def->kernel_caveat)
        if (std::optional<std::string> caveat = def->kernel_caveat()) caveats[name] = *caveat;
    }
    ch_.send({{"type", "setup"},
              {"unsupported", unsupported},
              {"kernel_caveats", caveats},
              {"transport", net_->describe()},
              {"data_endpoint", {{"address", address}, {"port", endpoint_port(endpoint)}}}});
  }

  static uint16_t endpoint_port(const Endpoint& e) {
    return ntohs(e.family() == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&e.addr)->sin6_port
                                        : reinterpret_cast<const sockaddr_in*>(&e.addr)->sin_port);
  }

  void need_setup() const {
    if (!sc_ || !plan_ || !net_) throw InputError("no setup yet");
  }

  void prepare(const json& request) {
    need_setup();
    harness_.reset();
    mode_.reset();
    const std::string name = request.value("mode", "");
    const ModeDefinition* def = find_mode(name);
    if (!def) throw InputError(fmt::format("unknown mode '{}'", name));
    mode_ = def->make(*sc_);
    harness_ = std::make_unique<ReceiverHarness>(*sc_, *net_, *mode_, *data_ready_);
    harness_->measure_softirq_with(softirq_.get());
    ch_.send({{"type", "prepared"}});
  }

  void accept() {
    if (!harness_) throw InputError("accept before prepare");
    harness_->accept_connections(sc_->receiver.connections);
    ch_.send({{"type", "accepted"}});
  }

  // One repetition's receive: false when the session is over (stop, signal).
  bool repetition(const json& request) {
    if (!harness_) throw InputError("start before accept");
    const int64_t t0 = request.at("t0_ns").get<int64_t>();
    const int64_t deadline = request.at("deadline_ns").get<int64_t>();
    const tap::SkbLayout layout_start = layout_->read();
    StopSignal finished;  // the receiver thread is done, one way or the other
    StopSignal session_stop;
    std::vector<int> receiver_cpus;
    std::exception_ptr receiver_error;
    std::thread receiver([&] {
      try {
        apply_realtime_priority(sc_->receiver.realtime_priority, "receiver");
        receiver_cpus = pin_calling_thread(sc_->receiver.cpu.for_thread(0), "receiver");
        harness_->receive(*plan_, deadline, session_stop.fd());
      } catch (...) {
        receiver_error = std::current_exception();
      }
      finished.request();
    });
    auto end_receiving = [&] {
      session_stop.request();
      if (receiver.joinable()) receiver.join();
    };
    json sent;
    const int wait_ms = int(std::max<int64_t>(deadline - monotonic_ns() + kSentGraceNs, 1'000'000) / 1'000'000);
    try {
      while (sent.is_null()) {
        std::vector<int> wake = {global_stop().fd()};
        if (receiver.joinable()) wake.push_back(finished.fd());
        sent = ch_.receive(wait_ms, "waiting for the client's send times", wake);
        if (!sent.is_null()) break;
        if (global_stop().requested()) {
          end_receiving();
          stopped_by_signal();
          return false;
        }
        // The receiver ended first: a failed one must not hold the sender up, so its
        // sockets close now (the client's sends then fail and it reports its times).
        receiver.join();
        if (receiver_error) harness_.reset();
      }
    } catch (...) {
      end_receiving();
      throw;
    }
    if (sent["type"] == "stop") {
      end_receiving();
      ch_.send({{"type", "stopped"}});
      return false;
    }
    // Everything is sent: the receiver finishes on its own, by the deadline at the latest.
    if (receiver.joinable()) receiver.join();
    if (sent["type"] != "sent") throw InputError(fmt::format("expected 'sent', got '{}'", sent["type"].dump()));
    if (receiver_error) std::rethrow_exception(receiver_error);
    if (harness_->timed_out())
      throw RunError(fmt::format("timed out: no frame arrived for {} s (run.timeout_s){}", sc_->run.timeout_s,
                                 harness_->stall_report()));
    const std::vector<int64_t> sent_ns = sent.at("sent_ns").get<std::vector<int64_t>>();
    ModeRepetition rep = harness_->measurements(*plan_, t0, sent_ns);
    rep.extra["affinity"] = {{"receiver", receiver_cpus}};
    if (layout_->available()) {
      const tap::SkbLayout seen = layout_->read() - layout_start;
      rep.extra["skb_layout"] = seen.to_json();
      rep.extra["hds"] = {{"nic_tcp_data_split", net_->describe()["tcp_data_split"]},
                          {"payload_in_frags", seen.data_skbs > 0 && seen.payload_in_frags == seen.data_skbs}};
    } else {
      rep.extra["skb_layout"] = nullptr;
      rep.extra["skb_layout_reason"] = layout_->unavailable_reason();
    }
    mode_->finish(*plan_, rep);
    harness_.reset();
    mode_.reset();
    ch_.send({{"type", "repetition"}, {"repetition", repetition_to_json(rep)}}, kSetupTimeoutMs);
    return true;
  }

  Channel& ch_;
  std::string data_address_;
  std::string token_;
  HostProbe probe_;
  std::optional<Scenario> sc_;
  std::optional<ReplayPlan> plan_;
  std::unique_ptr<AgentNetwork> net_;
  std::unique_ptr<tap::SkbLayoutProbe> layout_;  // on net_'s namespace: declared after it, gone before it
  std::unique_ptr<DataReadyProbe> data_ready_;
  std::unique_ptr<NetSoftirqProbe> softirq_;
  std::unique_ptr<ReceiverMode> mode_;
  std::unique_ptr<ReceiverHarness> harness_;
};

// "198.51.100.7" from "198.51.100.7:2222" or "[2001:db8::7]:2222".
std::pair<std::string, uint16_t> split_host_port(const std::string& text) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw InputError(fmt::format("--listen {}: expected [IPv6]:PORT", text));
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) throw InputError(fmt::format("--listen {}: expected ADDR:PORT", text));
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  char* end = nullptr;
  const unsigned long value = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || value == 0 || value > 65535)
    throw InputError(fmt::format("--listen {}: '{}' is not a port (1..65535)", text, port));
  return {host, uint16_t(value)};
}

std::string address_text(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET6) {
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    // An IPv4 client on a dual-stack listener: its IPv4 address is the one to use.
    if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) {
      inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], text, sizeof text);
      return text;
    }
    inet_ntop(AF_INET6, &a6->sin6_addr, text, sizeof text);
  } else {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
  }
  return text;
}

// Tells a client that arrives during a session that the agent is busy, until `done` fires.
void turn_away_while_busy(int listen_fd, int done_fd, const std::string& current_client) {
  for (;;) {
    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {done_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents & POLLIN) return;
    if (!(fds[0].revents & POLLIN)) continue;
    Fd other(accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (other.get() < 0) continue;
    try {
      Channel channel(other.get(), other.get(), "a second client");
      channel.send(error_message(fmt::format("busy: this agent serves one client at a time and is running {}'s "
                                             "session; try again when it ends",
                                             current_client)),
                   1000);
    } catch (const std::exception&) {
      // It went away first: nothing to tell.
    }
  }
}

}  // namespace

void serve_session(Channel& channel, const std::string& data_address, const std::string& token) {
  Session(channel, data_address, token).run();
}

std::string read_token_file(const std::string& path) {
  std::string token = read_regular_file(path, 4096, "token file");
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) throw InputError(fmt::format("{}: the token file is empty", path));
  return token;
}

int serve_stdio() {
  StopSignal::instance().graceful();
  // ssh puts "client_ip client_port server_ip server_port" here: the server address is
  // the one the client can reach, so the data connection goes there too.
  const char* connection = std::getenv("SSH_CONNECTION");
  std::string data_address;
  if (connection) {
    std::istringstream words(connection);
    std::string client_ip, client_port;
    words >> client_ip >> client_port >> data_address;
  }
  Channel channel(STDIN_FILENO, STDOUT_FILENO, "the client");
  if (data_address.empty()) {
    channel.send(error_message("serve --stdio runs under ssh (SSH_CONNECTION names the address to receive on); "
                               "without ssh use serve --listen"));
    fmt::print(stderr, "rcvqbench serve: SSH_CONNECTION is not set: run under ssh, or use serve --listen\n");
    return kExitBadInput;
  }
  try {
    serve_session(channel, data_address, "");
  } catch (const std::exception& e) {
    fmt::print(stderr, "rcvqbench serve: {}\n", e.what());
    return kExitRunFailed;
  }
  return StopSignal::instance().requested() ? kExitInterrupted : kExitOk;
}

int serve_listen(const std::string& address, const std::string& token_file) {
  const std::string token = read_token_file(token_file);
  const auto [host, port] = split_host_port(address);
  const Endpoint endpoint = Endpoint::parse(host, port);
  Fd listener(socket(endpoint.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener.get() < 0) throw_errno("socket");
  int one = 1;
  setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener.get(), reinterpret_cast<const sockaddr*>(&endpoint.addr), endpoint.len) != 0)
    throw_errno("bind " + endpoint.text);
  if (listen(listener.get(), 8) != 0) throw_errno("listen");
  StopSignal& stop = StopSignal::instance();
  stop.graceful();
  fmt::print(stderr, "rcvqbench serve: listening on {}\n", endpoint.text);
  while (!stop.requested()) {
    pollfd fds[2] = {{listener.get(), POLLIN, 0}, {stop.fd(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) throw_errno("poll");
    if (!(fds[0].revents & POLLIN)) continue;
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    Fd client(accept4(listener.get(), reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC));
    if (client.get() < 0) continue;
    sockaddr_storage local{};
    socklen_t local_len = sizeof local;
    getsockname(client.get(), reinterpret_cast<sockaddr*>(&local), &local_len);
    const std::string client_address = address_text(peer);
    keep_alive(client.get());
    StopSignal session_over;
    std::thread doorman(turn_away_while_busy, listener.get(), session_over.fd(), client_address);
    try {
      Channel channel(client.get(), client.get(), "the client at " + client_address);
      // The data connection goes to the address this client reached us on.
      serve_session(channel, address_text(local), token);
      fmt::print(stderr, "rcvqbench serve: session with {} done\n", client_address);
    } catch (const std::exception& e) {
      fmt::print(stderr, "rcvqbench serve: session with {}: {}\n", client_address, e.what());
    }
    session_over.request();
    doorman.join();
  }
  return kExitInterrupted;
}

}  // namespace rcvq::remote
