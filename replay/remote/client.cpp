// The sending host's side of a two-host run: it keeps the plan and the results, sends
// the data itself and asks the agent to receive and measure each repetition.
#include "remote/client.hpp"

#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <sstream>
#include <thread>

#include "common/build_info.hpp"
#include "common/clock.hpp"
#include "common/fd.hpp"
#include "common/spawn.hpp"
#include "common/stop.hpp"
#include "probes/host_probe.hpp"
#include "remote/agent.hpp"
#include "remote/nic.hpp"
#include "remote/protocol.hpp"
#include "report/progress.hpp"
#include "run/thread_placement.hpp"
#include "transport/network.hpp"

extern char** environ;

namespace rcvq::remote {
namespace {

// Exchanges per repetition; the one with the smallest round trip bounds the offset best.
constexpr int kClockSamples = 16;
// Time between the agent's "start" and the first planned send: the message and the
// agent's receiver thread must be in place first, also over a slow ssh channel.
constexpr int64_t kRemoteStartDelayNs = 200'000'000;
constexpr int kConnectTimeoutMs = 10'000;
// A data connection's handshake: a lost SYN is sent again after 1 s and 3 s.
constexpr int kDataConnectTimeoutMs = 5'000;
constexpr int kSetupTimeoutMs = 120'000;
// ssh's own handshake and login before the agent answers.
constexpr int kHelloTimeoutMs = 30'000;
constexpr int64_t kResultGraceNs = 60'000'000'000;
constexpr int kReapTimeoutMs = 5'000;

uint16_t parse_port(const std::string& text, const std::string& url) {
  char* end = nullptr;
  const unsigned long value = std::strtoul(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value == 0 || value > 65535)
    throw InputError(fmt::format("--remote {}: '{}' is not a port (1..65535)", url, text));
  return uint16_t(value);
}

std::vector<std::string> split_words(const char* text) {
  std::vector<std::string> words;
  if (!text) return words;
  std::istringstream in(text);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// A TCP connection to host:port within the connect timeout, or RunError.
Fd connect_tcp(const AgentAddress& a) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(a.host.c_str(), std::to_string(a.port).c_str(), &hints, &found); rc != 0)
    throw RunError(fmt::format("{}: cannot resolve {}: {}", a.text, a.host, gai_strerror(rc)));
  std::string last_error = "no address";
  for (const addrinfo* ai = found; ai; ai = ai->ai_next) {
    Fd fd(socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) continue;
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_error = std::strerror(errno);
      continue;
    }
    pollfd pfd{fd.get(), POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    if (poll(&pfd, 1, kConnectTimeoutMs) != 1) {
      last_error = "timed out";
      continue;
    }
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      last_error = std::strerror(err);
      continue;
    }
    freeaddrinfo(found);
    keep_alive(fd.get());
    return fd;
  }
  freeaddrinfo(found);
  throw RunError(fmt::format("cannot connect to the agent at {}: {}", a.text, last_error));
}

class RemoteClient : public RemoteReceiver {
 public:
  RemoteClient(const AgentAddress& address, const ClientOptions& options) : address_(address), here_(Netns::current()) {
    if (address.kind == AgentAddress::Kind::Ssh) start_ssh(options);
    else socket_ = connect_tcp(address);
    const int in = socket_.get() >= 0 ? socket_.get() : from_agent_.get();
    const int out = socket_.get() >= 0 ? socket_.get() : to_agent_.get();
    channel_ = std::make_unique<Channel>(in, out, "the agent at " + address.text);
    try {
      handshake(address.kind == AgentAddress::Kind::Tcp ? read_token_file(options.token_file) : "");
    } catch (const ChannelError& e) {
      close_and_reap();
      throw RunError(fmt::format("{} (is `rcvqbench serve` there, and reachable?)", e.what()));
    } catch (...) {
      close_and_reap();
      throw;
    }
  }

  ~RemoteClient() override {
    try {
      if (channel_ && !lost_) {
        channel_->send({{"type", "bye"}}, 2000);
        channel_->expect("bye", 2000, "saying goodbye");
      }
    } catch (const std::exception&) {
      // It is gone already; the run's results do not depend on the goodbye.
    }
    close_and_reap();
  }

  RemoteSetup setup(const Scenario& sc, const ReplayPlan& plan, const std::vector<std::string>& modes) override {
    sc_ = &sc;
    return guarded([&] {
      channel_->send({{"type", "setup"},
                      {"scenario", receiver_scenario_to_json(sc)},
                      {"modes", modes},
                      {"plan", plan_to_json(plan)}},
                     kSetupTimeoutMs);
      const json reply = channel_->expect("setup", kSetupTimeoutMs, "setting up the receiver");
      const json& endpoint = reply.at("data_endpoint");
      data_ = Endpoint::parse(endpoint.at("address").get<std::string>(), endpoint.at("port").get<uint16_t>());
      RemoteSetup s;
      s.host = agent_hello_.at("host");
      s.probe = agent_hello_.at("probe");
      for (const auto& [mode, why] : reply.at("unsupported").items()) s.unsupported[mode] = why.get<std::string>();
      // An agent of an earlier release sends none.
      const json caveats = reply.value("kernel_caveats", json::object());
      for (const auto& [mode, caveat] : caveats.items()) s.kernel_caveats[mode] = caveat.get<std::string>();
      s.transport = {{"kind", "remote"},
                     {"agent", address_.text},
                     {"protocol", kProtocolVersion},
                     {"agent_version", agent_hello_.value("version", "")},
                     {"address", data_.text},
                     {"receiver", reply.at("transport")},
                     {"sender", {{"host", describe_host()}, {"probe", probe_host().to_json()}, {"nic", sender_nic()}}}};
      return s;
    });
  }

  ModeRepetition run_once(const std::string& mode, const ReplayPlan& plan, ProgressReporter& progress) override {
    return guarded([&] { return repetition(mode, plan, progress); });
  }

 private:
  // A broken control channel means the receiver host is gone for the rest of the run.
  template <typename F>
  auto guarded(F f) -> decltype(f()) {
    try {
      return f();
    } catch (const ChannelError& e) {
      lost_ = true;
      throw ReceiverLost(e.what());
    }
  }

  void start_ssh(const ClientOptions& options) {
    std::vector<std::string> argv = {"ssh", "-o", "BatchMode=yes", "-T"};
    if (address_.port) argv.insert(argv.end(), {"-p", std::to_string(address_.port)});
    for (const std::string& o : split_words(std::getenv("RCVQBENCH_SSH_OPTIONS"))) argv.push_back(o);
    argv.insert(argv.end(), options.ssh_options.begin(), options.ssh_options.end());
    // After the user's (ssh keeps an option's first value): a cut network ends ssh, and
    // with it the control channel, within ~6 s.
    argv.insert(argv.end(), {"-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3"});
    argv.push_back(address_.user.empty() ? address_.host : address_.user + "@" + address_.host);
    std::string remote = options.remote_command;
    if (remote.empty()) remote = std::getenv("RCVQBENCH_REMOTE_COMMAND") ? std::getenv("RCVQBENCH_REMOTE_COMMAND") : "rcvqbench";
    argv.push_back(remote + " serve --stdio");

    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) != 0) throw_errno("pipe");
    if (pipe2(from, O_CLOEXEC) != 0) throw_errno("pipe");
    to_agent_ = Fd(to[1]);
    from_agent_ = Fd(from[0]);
    Fd child_in(to[0]), child_out(from[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, child_in.get(), STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, child_out.get(), STDOUT_FILENO);
    // ssh gets a fresh signal state and its own process group: Ctrl-C reaches this
    // process, which then ends the session in order instead of losing the channel.
    ChildSignalDefaults attr;
    attr.new_process_group();
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const int rc = posix_spawnp(&ssh_pid_, "ssh", &actions, attr.get(), args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      ssh_pid_ = -1;
      throw RunError(fmt::format("cannot start ssh (install openssh-client): {}", std::strerror(rc)));
    }
  }

  void close_and_reap() {
    channel_.reset();
    to_agent_ = Fd();
    from_agent_ = Fd();
    socket_ = Fd();
    if (ssh_pid_ <= 0) return;
    // With its stdin closed ssh ends the remote command's input and exits; one that
    // hangs on a dead network is ended.
    int status = 0;
    for (int waited = 0; waited < kReapTimeoutMs; waited += 10) {
      if (waitpid(ssh_pid_, &status, WNOHANG) == ssh_pid_) {
        ssh_pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(ssh_pid_, SIGKILL);
    waitpid(ssh_pid_, &status, 0);
    ssh_pid_ = -1;
  }

  void handshake(const std::string& token) {
    json hello = {{"type", "hello"}, {"protocol", kProtocolVersion}, {"version", build_info().version}};
    if (!token.empty()) hello["token"] = token;
    channel_->send(hello, kHelloTimeoutMs);
    try {
      agent_hello_ = channel_->expect("hello", kHelloTimeoutMs, "waiting for the agent's hello");
    } catch (const PeerError& e) {
      lost_ = true;
      throw RunError(fmt::format("the agent at {} refused the session: {}", address_.text, e.what()));
    }
    const int theirs = agent_hello_.value("protocol", -1);
    if (theirs != kProtocolVersion) {
      lost_ = true;
      throw RunError(fmt::format(
          "protocol version mismatch: the agent at {} (rcvqbench {}) speaks {}, this client (rcvqbench {}) speaks {}; "
          "install the same rcvqbench on both hosts",
          address_.text, agent_hello_.value("version", "?"), theirs, build_info().version, kProtocolVersion));
    }
  }

  // The device this host sends the data from: the one holding the source address the
  // kernel picks towards the agent.
  json sender_nic() const {
    try {
      Fd probe(socket(data_.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
      if (probe.get() < 0 || ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&data_.addr), data_.len) != 0)
        throw_errno("route to " + data_.text);
      sockaddr_storage local{};
      socklen_t len = sizeof local;
      getsockname(probe.get(), reinterpret_cast<sockaddr*>(&local), &len);
      char text[INET6_ADDRSTRLEN] = {};
      const void* a = local.ss_family == AF_INET6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr)
                                                  : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr);
      inet_ntop(local.ss_family, a, text, sizeof text);
      return describe_nic(device_of_address(text), text);
    } catch (const RunError& e) {
      return {{"unavailable", e.what()}};
    }
  }

  ClockSample measure_clock() {
    std::vector<ClockSample> samples;
    for (int i = 0; i < kClockSamples; ++i) {
      ClockSample s;
      s.t1 = monotonic_ns();
      channel_->send({{"type", "clock"}, {"t1", s.t1}});
      const json reply = channel_->expect("clock", Channel::kDefaultTimeoutMs, "measuring the clock offset");
      s.t4 = monotonic_ns();
      s.t2 = reply.at("t2").get<int64_t>();
      s.t3 = reply.at("t3").get<int64_t>();
      if (reply.at("t1").get<int64_t>() != s.t1) throw ChannelError("the agent answered another clock exchange");
      samples.push_back(s);
    }
    return best_clock_sample(samples);
  }

  ModeRepetition repetition(const std::string& mode, const ReplayPlan& plan, ProgressReporter& progress) {
    const Scenario& sc = *sc_;
    StopSignal& stop = StopSignal::instance();
    const ClockSample clock = measure_clock();
    const int64_t offset = clock.offset_ns();
    channel_->send({{"type", "prepare"}, {"mode", mode}});
    channel_->expect("prepared", Channel::kDefaultTimeoutMs, "preparing " + mode);
    std::unique_ptr<Replayer> replayer = make_socket_replayer(here_, data_, sc.segmentation, kDataConnectTimeoutMs);
    // The sender stops on the run's stop, a control channel that ends (the agent died,
    // the network was cut: ssh's keep-alives notice) or a deadline long past.
    StopSignal sender_stop;
    // The receivers are on the other host: this process holds one end of each connection.
    SenderThread sender(sc, *replayer, 0, /*private_fds=*/false);
    sender.connect(sc.receiver.connections);
    channel_->send({{"type", "accept"}});
    channel_->expect("accepted", Channel::kDefaultTimeoutMs, "accepting the data connections");

    const int64_t t0 = monotonic_ns() + kRemoteStartDelayNs;
    const int64_t deadline = t0 + plan.duration_ns() + int64_t(sc.run.timeout_s * 1e9);
    channel_->send({{"type", "start"}, {"t0_ns", t0 + offset}, {"deadline_ns", deadline + offset}});
    progress.schedule(plan.frames.size(), t0, plan.duration_ns());
    sender.start(plan, t0, sender_stop);
    const int64_t give_up = deadline + kResultGraceNs;
    bool agent_spoke = false, gave_up = false;
    while (!sender.finished() && !stop.requested()) {
      if ((gave_up = monotonic_ns() > give_up)) break;
      // The agent says nothing while it receives: anything now ends the repetition.
      if ((agent_spoke = channel_->readable(20, {stop.fd()}))) break;
    }
    if (!sender.finished()) sender_stop.request();
    sender.join();
    if (agent_spoke) {
      const json message = channel_->receive(Channel::kDefaultTimeoutMs, "receiving " + mode);
      if (message["type"] == "error") throw PeerError(message.value("message", "unspecified error"));
      throw ChannelError(fmt::format("{} sent '{}' while receiving {}", channel_->peer(),
                                     message["type"].get<std::string>(), mode));
    }
    if (gave_up)
      throw ChannelError(fmt::format("the data connection to {} made no progress until {:.0f} s past the plan's end",
                                     data_.text, double(give_up - t0 - plan.duration_ns()) / 1e9));
    if (stop.requested()) {
      channel_->send({{"type", "stop"}});
      channel_->expect("stopped", Channel::kDefaultTimeoutMs, "stopping the agent");
      lost_ = true;  // the agent ended the session
      throw RunError("interrupted");
    }
    std::vector<int64_t> sent_on_agent_clock(sender.sent_ns.size(), 0);
    for (size_t i = 0; i < sender.sent_ns.size(); ++i)
      if (sender.sent_ns[i] != 0) sent_on_agent_clock[i] = sender.sent_ns[i] + offset;
    channel_->send({{"type", "sent"}, {"sent_ns", sent_on_agent_clock}}, kSetupTimeoutMs);
    const int wait_ms = int((deadline - monotonic_ns() + kResultGraceNs) / 1'000'000);
    const json reply = channel_->expect("repetition", std::max(wait_ms, 1000), "waiting for " + mode + "'s measurements");
    if (sender.error) std::rethrow_exception(sender.error);

    ModeRepetition rep = repetition_from_json(reply.at("repetition"));
    rep.extra["sender"] = replayer->stats();
    rep.extra["affinity"]["sender"] = sender.cpus;
    rep.extra["clock"] = {{"offset_ns", offset},
                          {"uncertainty_ns", clock.uncertainty_ns()},
                          {"round_trip_ns", clock.round_trip_ns()},
                          {"samples", kClockSamples}};
    if (rep.latency.count() > 0) {
      const std::string why = latency_unavailable_reason(clock.uncertainty_ns(), rep.latency.value_at_percentile(50));
      if (!why.empty()) {
        rep.latency = Histogram();
        rep.latency_from_send = Histogram();
        rep.latency_unavailable = why;
      }
    }
    return rep;
  }

  AgentAddress address_;
  Netns here_;
  pid_t ssh_pid_ = -1;
  Fd to_agent_, from_agent_, socket_;
  std::unique_ptr<Channel> channel_;
  json agent_hello_;
  const Scenario* sc_ = nullptr;
  Endpoint data_;
  bool lost_ = false;  // no goodbye: the session is over on the agent's side
};

}  // namespace

AgentAddress AgentAddress::parse(const std::string& url) {
  AgentAddress a;
  a.text = url;
  std::string rest;
  if (url.rfind("ssh://", 0) == 0) {
    a.kind = Kind::Ssh;
    rest = url.substr(6);
  } else if (url.rfind("tcp://", 0) == 0) {
    a.kind = Kind::Tcp;
    rest = url.substr(6);
  } else {
    throw InputError(fmt::format("--remote {}: expected ssh://[USER@]HOST[:PORT] or tcp://HOST:PORT", url));
  }
  if (const size_t at = rest.find('@'); at != std::string::npos) {
    if (a.kind == Kind::Tcp) throw InputError(fmt::format("--remote {}: tcp:// takes no user", url));
    a.user = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (a.user.empty()) throw InputError(fmt::format("--remote {}: empty user before '@'", url));
  }
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) throw InputError(fmt::format("--remote {}: '[' without ']'", url));
    a.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') throw InputError(fmt::format("--remote {}: expected ':PORT' after ']'", url));
      port = rest.substr(close + 2);
      if (port.empty()) throw InputError(fmt::format("--remote {}: empty port", url));
    }
  } else {
    const size_t colon = rest.find(':');
    a.host = rest.substr(0, colon);
    if (colon != std::string::npos) {
      port = rest.substr(colon + 1);
      if (port.empty()) throw InputError(fmt::format("--remote {}: empty port", url));
    }
  }
  if (a.host.empty() || a.host.find('/') != std::string::npos || a.host[0] == '-')
    throw InputError(fmt::format("--remote {}: no usable host", url));
  if (!port.empty()) a.port = parse_port(port, url);
  if (a.kind == Kind::Tcp && a.port == 0) throw InputError(fmt::format("--remote {}: tcp:// needs a port", url));
  return a;
}

std::unique_ptr<RemoteReceiver> connect_agent(const AgentAddress& address, const ClientOptions& options) {
  if (address.kind == AgentAddress::Kind::Tcp && options.token_file.empty())
    throw InputError(fmt::format("--remote {}: a tcp:// agent needs --token-file (the token its serve --listen has)",
                                 address.text));
  return std::make_unique<RemoteClient>(address, options);
}

}  // namespace rcvq::remote
