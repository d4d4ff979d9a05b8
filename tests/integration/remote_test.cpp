// Two hosts on one machine: two network namespaces joined by a veth pair, each with its
// own rcvqbench process. An OpenSSH server with a throw-away host key runs in the
// receiver's namespace, and `run --remote ssh://...` starts the agent through it from
// the sender's (or `serve --listen` plays the agent).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "integration/run_cli.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kSshd = "/usr/sbin/sshd";
constexpr const char* kSenderAddress = "198.18.9.1";
constexpr const char* kReceiverAddress = "198.18.9.2";
constexpr int kSshPort = 2222;
constexpr int kListenPort = 7399;

std::string command_output(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  if (p) pclose(p);
  return out;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// A shell command whose exit status is checked; its output goes to the test's log.
void sh(const std::string& command) { ASSERT_EQ(std::system(command.c_str()), 0) << command; }

// A command in the background, its stdout and stderr in `log`.
class Background {
 public:
  Background(const std::string& command, fs::path log) : log_(std::move(log)) {
    const std::string line = command + " > " + log_.string() + " 2>&1";
    std::vector<char*> argv = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>(line.c_str()),
                               nullptr};
    EXPECT_EQ(posix_spawn(&pid_, "/bin/sh", nullptr, nullptr, argv.data(), environ), 0) << command;
  }
  ~Background() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // The exit code, or -1 when it did not exit within `seconds` (or died of a signal).
  int wait(double seconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  std::string output() const { return slurp(log_); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  fs::path log_;
};

bool wait_for(const std::function<bool()>& condition, double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

class TwoHosts : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kSshd, X_OK) != 0) GTEST_SKIP() << "no " << kSshd << " (tools/setup installs openssh-server)";
    char tmpl[] = "/tmp/rcvq-remote-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const std::string id = std::to_string(getpid());
    sender_ns_ = "rqrs-" + id;
    receiver_ns_ = "rqrr-" + id;
    sh("ip netns add " + sender_ns_);
    sh("ip netns add " + receiver_ns_);
    sh(fmt("ip link add rqrs0 netns {} type veth peer name rqrr0 netns {}", sender_ns_, receiver_ns_));
    for (auto [ns, dev, addr] : {std::tuple{sender_ns_, "rqrs0", kSenderAddress}, {receiver_ns_, "rqrr0", kReceiverAddress}}) {
      sh(fmt("ip -n {} addr add {}/24 dev {}", ns, addr, dev));
      sh(fmt("ip -n {} link set {} up", ns, dev));
      sh(fmt("ip -n {} link set lo up", ns));
    }
    const std::string d = dir_.string();
    sh(fmt("ssh-keygen -q -t ed25519 -N '' -f {}/host_key", d));
    sh(fmt("ssh-keygen -q -t ed25519 -N '' -f {}/client_key", d));
    sh(fmt("cp {0}/client_key.pub {0}/authorized_keys", d));
    sh(fmt("printf '[{0}]:{1} ' > {2}/known_hosts && cat {2}/host_key.pub >> {2}/known_hosts", kReceiverAddress,
           kSshPort, d));
    write_file(dir_ / "sshd_config", fmt("Port {}\nListenAddress {}\nHostKey {}/host_key\n"
                                         "AuthorizedKeysFile {}/authorized_keys\nPermitRootLogin prohibit-password\n"
                                         "StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                                         "UsePAM no\nPidFile {}/sshd.pid\nClientAliveInterval 2\n"
                                         "ClientAliveCountMax 3\n",
                                         kSshPort, kReceiverAddress, d, d, d));
    fs::create_directories("/run/sshd");  // sshd's privilege separation directory
    // The agent records its pid, then becomes rcvqbench.
    write_file(dir_ / "agent.sh", fmt("#!/bin/sh\necho $$ > {}/agent.pid\nexec {} \"$@\"\n", d, RCQ_BIN()));
    fs::permissions(dir_ / "agent.sh", fs::perms::owner_all);
    sshd_ = std::make_unique<Background>(fmt("exec ip netns exec {} {} -D -e -f {}/sshd_config", receiver_ns_, kSshd, d),
                                         dir_ / "sshd.log");
    ASSERT_TRUE(wait_for([&] { return slurp(dir_ / "sshd.log").find("Server listening") != std::string::npos; }, 10))
        << slurp(dir_ / "sshd.log");
    write_file(dir_ / "plan.yaml",
               "name: two-hosts\n"
               "source: {synthetic: {frames: 200, payload: 4000}}\n"
               "segmentation: {cut: {chunks: 4}, chunk_gap_us: 200}\n"
               "receiver: {modes: [baseline, lowat-user, strparser, autolowat, autolowat-model]}\n"
               "run: {repetitions: 2}\n");
    // Long enough to be caught mid-run: 20000 frames 500 us apart, 10 s a repetition.
    write_file(dir_ / "long.yaml",
               "name: two-hosts-long\n"
               "source: {synthetic: {frames: 20000, payload: 1000}}\n"
               "segmentation: {cut: {chunks: 2}, frame_gap_us: 500}\n"
               "receiver: {modes: [baseline]}\n"
               "run: {repetitions: 2, timeout_s: 5}\n");
    write_file(dir_ / "token", "s3cret-for-this-test\n");
    write_file(dir_ / "wrong-token", "not-it\n");
  }

  void TearDown() override {
    if (dir_.empty()) return;
    // Everything that still runs in the two namespaces is this test's.
    for (const std::string& ns : {receiver_ns_, sender_ns_})
      std::system(fmt("ip netns pids {} 2>/dev/null | xargs -r kill -9", ns).c_str());
    sshd_.reset();
    std::system(fmt("ip netns del {} 2>/dev/null; ip netns del {} 2>/dev/null", sender_ns_, receiver_ns_).c_str());
    fs::remove_all(dir_);
  }

  template <typename... Args>
  static std::string fmt(const char* pattern, Args&&... args) {
    return ::fmt::format(::fmt::runtime(pattern), std::forward<Args>(args)...);
  }
  static std::string RCQ_BIN() { return RCVQ_BINARY; }

  std::string ssh_env(const std::string& agent_prefix = "") const {
    const std::string d = dir_.string();
    return fmt("RCVQBENCH_SSH_OPTIONS='-i {0}/client_key -o UserKnownHostsFile={0}/known_hosts "
               "-o StrictHostKeyChecking=yes -o LogLevel=ERROR' RCVQBENCH_REMOTE_COMMAND='{1}{0}/agent.sh'",
               d, agent_prefix);
  }
  std::string in_sender(const std::string& args) const {
    return fmt("ip netns exec {} {} {}", sender_ns_, RCQ_BIN(), args);
  }
  std::string ssh_url() const { return fmt("ssh://root@{}:{}", kReceiverAddress, kSshPort); }
  std::string tcp_url() const { return fmt("tcp://{}:{}", kReceiverAddress, kListenPort); }

  json run_json(const std::string& sub) const { return json::parse(slurp(dir_ / sub / "run.json")); }

  // Processes in a namespace besides `except`.
  std::set<pid_t> pids_in(const std::string& ns, pid_t except = -1) const {
    FILE* p = popen(fmt("ip netns pids {}", ns).c_str(), "r");
    std::set<pid_t> pids;
    for (int pid; p && fscanf(p, "%d", &pid) == 1;)
      if (pid != except) pids.insert(pid);
    if (p) pclose(p);
    return pids;
  }
  pid_t sshd_pid() const { return pid_t(std::atoi(slurp(dir_ / "sshd.pid").c_str())); }

  std::unique_ptr<Background> start_listen_agent(const std::string& token_file) {
    auto agent = std::make_unique<Background>(
        fmt("exec ip netns exec {} {} serve --listen {}:{} --token-file {}", receiver_ns_, RCQ_BIN(), kReceiverAddress,
            kListenPort, (dir_ / token_file).string()),
        dir_ / "listen.log");
    EXPECT_TRUE(wait_for([&] { return agent->output().find("listening on") != std::string::npos; }, 10))
        << agent->output();
    return agent;
  }

  // long.yaml over ssh in the background, returned once it is into its first repetition.
  std::unique_ptr<Background> long_run_over_ssh(const std::string& out) {
    auto client = std::make_unique<Background>(
        ssh_env() + " " +
            in_sender(fmt("run {0}/long.yaml --remote {1} --quiet --results-dir {0}/{2}", dir_.string(), ssh_url(), out)),
        dir_ / "client.log");
    EXPECT_TRUE(wait_for([&] { return slurp(dir_ / "agent.pid").size() > 1; }, 20)) << client->output();
    // Setup and probes take well under this.
    std::this_thread::sleep_for(std::chrono::seconds(3));
    return client;
  }
  pid_t agent_pid() const { return pid_t(std::atoi(slurp(dir_ / "agent.pid").c_str())); }

  static void expect_incomplete_for_a_lost_receiver(const json& run) {
    EXPECT_EQ(run["complete"], false);
    bool told = false;
    for (const json& w : run["warnings"])
      told = told || w.get<std::string>().find("receiver host was lost") != std::string::npos;
    EXPECT_TRUE(told) << run["warnings"].dump();
  }

  // Every mode ran as in the same-machine veth run of the same plan, frames intact.
  void expect_like_veth(const json& remote) {
    std::string veth_yaml = slurp(dir_ / "plan.yaml") + "transport: {kind: veth}\n";
    write_file(dir_ / "veth.yaml", veth_yaml);
    const Result veth = rcvqbench(fmt("run {}/veth.yaml --quiet --results-dir {}/veth", dir_.string(), dir_.string()));
    ASSERT_EQ(veth.code, 0) << veth.output;
    const json local = run_json("veth");
    ASSERT_EQ(remote["modes"].size(), local["modes"].size());
    for (const auto& [mode, m] : local["modes"].items()) {
      const json& r = remote["modes"][mode];
      EXPECT_EQ(r["status"], m["status"]) << mode << ": " << r["reason"];
      // Both receivers run on this kernel: the agent finds the same defects.
      EXPECT_EQ(r.value("kernel_caveat", ""), m.value("kernel_caveat", "")) << mode;
      if (m["status"] != "ok") continue;
      const json& rm = r["metrics"];
      const json& lm = m["metrics"];
      EXPECT_EQ(rm["integrity"], "ok") << mode;
      EXPECT_EQ(rm["frames"], lm["frames"]) << mode;
      EXPECT_EQ(rm["bytes"], lm["bytes"]) << mode;
      EXPECT_EQ(rm["segments_per_frame_planned"], lm["segments_per_frame_planned"]) << mode;
      // Each paced chunk is its own segment on both paths (the run warns beyond 5%).
      const double planned = rm["segments_per_frame_planned"].get<double>();
      EXPECT_NEAR(rm["segments_per_frame_achieved"].get<double>(), planned, 0.05 * planned) << mode;
      EXPECT_NEAR(lm["segments_per_frame_achieved"].get<double>(), planned, 0.05 * planned) << mode;
      // A wakeup delivers at least one byte, and a frame needs at most one per segment
      // (level-triggered baseline: exactly the reads that find data).
      if (mode == "baseline") {
        EXPECT_GE(rm["wakeups_per_frame"].get<double>(), 1.0);
        EXPECT_LE(rm["wakeups_per_frame"].get<double>(), planned + 1.0);
      }
    }
  }

  fs::path dir_;
  std::string sender_ns_, receiver_ns_;
  std::unique_ptr<Background> sshd_;
};

TEST_F(TwoHosts, OverSshEveryModeRunsLikeOnOneMachineAndReportsBothHosts) {
  const Result r = rcvqbench(
      fmt("run {0}/plan.yaml --remote {1} --quiet --results-dir {0}/remote", dir_.string(), ssh_url()),
      ssh_env() + " ip netns exec " + sender_ns_);
  ASSERT_EQ(r.code, 0) << r.output;
  const json run = run_json("remote");
  EXPECT_EQ(run["complete"], true);
  EXPECT_EQ(run["transport"]["kind"], "remote");
  EXPECT_EQ(run["transport"]["agent"], ssh_url());
  const json& receiver = run["transport"]["receiver"];
  EXPECT_EQ(receiver["device"], "rqrr0");
  EXPECT_EQ(receiver["address"], kReceiverAddress);
  EXPECT_EQ(receiver["mtu"], 1500);
  EXPECT_TRUE(receiver["features"].contains("gro")) << receiver.dump();
  EXPECT_TRUE(receiver.contains("tcp_data_split"));
  EXPECT_TRUE(receiver["unavailable"].contains("driver")) << "a veth has no driver in sysfs";
  // Both hosts: here one kernel.
  EXPECT_EQ(run["host"]["kernel"], run["transport"]["sender"]["host"]["kernel"]);
  EXPECT_TRUE(run["transport"]["sender"]["probe"].is_object());
  EXPECT_EQ(run["transport"]["sender"]["nic"]["device"], "rqrs0");
  EXPECT_EQ(run["transport"]["sender"]["nic"]["address"], kSenderAddress);
  for (const auto& [mode, m] : run["modes"].items())
    for (const json& rep : m["repetitions"]) {
      const json& clock = rep["extra"]["clock"];
      // One clock on both "hosts": the true offset is 0, and the bound must hold it.
      EXPECT_LE(std::abs(clock["offset_ns"].get<int64_t>()), clock["uncertainty_ns"].get<int64_t>()) << mode;
      if (rep["latency_ns"].is_null())
        EXPECT_NE(rep["unavailable"]["latency_ns"].get<std::string>().find("clock offset"), std::string::npos);
      else
        EXPECT_LE(clock["uncertainty_ns"].get<double>(), rep["latency_ns"]["p50"].get<double>()) << mode;
    }
  // The skb-layout probe on the receiver's device counts the data connection alone:
  // every stream byte arrives at least once, and the control connection's bytes (the
  // send times alone are kilobytes) are not among them.
  const uint64_t stream_bytes = run["plan"]["stream_bytes"].get<uint64_t>();
  for (const auto& [mode, m] : run["modes"].items())
    for (const json& rep : m["repetitions"]) {
      const json& layout = rep["extra"]["skb_layout"];
      ASSERT_TRUE(layout.is_object()) << mode << ": " << rep["extra"].value("skb_layout_reason", "");
      EXPECT_GE(layout["payload_bytes"].get<uint64_t>(), stream_bytes) << mode;
      EXPECT_LT(layout["payload_bytes"].get<uint64_t>(), stream_bytes + 4096) << mode;
      EXPECT_EQ(layout["payload_in_frags"].get<uint64_t>() + layout["payload_linear"].get<uint64_t>() +
                    layout["payload_mixed"].get<uint64_t>(),
                layout["data_skbs"].get<uint64_t>());
      EXPECT_EQ(rep["extra"]["hds"]["payload_in_frags"],
                layout["data_skbs"].get<uint64_t>() == layout["payload_in_frags"].get<uint64_t>());
    }
  expect_like_veth(run);
  // The run.json contract is unchanged: report, compare and gate take it as it is.
  const std::string remote_dir = (dir_ / "remote").string(), veth_dir = (dir_ / "veth").string();
  EXPECT_EQ(rcvqbench("report " + remote_dir).code, 0);
  const Result cmp = rcvqbench(fmt("compare {} {}", veth_dir, remote_dir));
  EXPECT_TRUE(cmp.code == 0 || cmp.code == 1) << cmp.output;
  const Result gate = rcvqbench(fmt("gate {}/run.json {}/run.json --allow-empty", veth_dir, remote_dir));
  EXPECT_TRUE(gate.code == 0 || gate.code == 1) << gate.output;
}

// The capture is read here; the agent gets the plan and the framing resolved from it
// (postgres: a startup-message preamble and prefix rules), never the file.
TEST_F(TwoHosts, ACaptureIsReplayedByTheClientAndFramedAlikeByTheAgent) {
  const std::string scenario = std::string(RCVQ_SOURCE_DIR) + "/configs/captures/postgres.yaml";
  const Result local = rcvqbench(fmt("run {} --quiet --results-dir {}/local", scenario, dir_.string()));
  ASSERT_EQ(local.code, 0) << local.output;
  const Result remote = rcvqbench(fmt("run {} --remote {} --quiet --results-dir {}/capture", scenario, ssh_url(),
                                      dir_.string()),
                                  ssh_env() + " ip netns exec " + sender_ns_);
  ASSERT_EQ(remote.code, 0) << remote.output;
  const json a = run_json("local"), b = run_json("capture");
  EXPECT_EQ(b["plan"], a["plan"]);
  for (const auto& [mode, m] : a["modes"].items()) {
    EXPECT_EQ(b["modes"][mode]["status"], m["status"]) << mode;
    if (m["status"] != "ok") continue;
    EXPECT_EQ(b["modes"][mode]["metrics"]["integrity"], "ok") << mode;
    EXPECT_EQ(b["modes"][mode]["metrics"]["frames"], m["metrics"]["frames"]) << mode;
  }
}

TEST_F(TwoHosts, AVersionMismatchIsToldOnBothSides) {
  const Result r = rcvqbench(fmt("run {}/plan.yaml --remote {} --quiet --results-dir {}/mismatch", dir_.string(),
                                 ssh_url(), dir_.string()),
                             ssh_env("env RCVQBENCH_TEST_PROTOCOL_VERSION=99 ") + " ip netns exec " + sender_ns_);
  EXPECT_EQ(r.code, 1) << r.output;
  // The agent's own stderr comes back through ssh; the client says what it got.
  EXPECT_NE(r.output.find("rcvqbench serve: protocol version mismatch"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("refused the session: protocol version mismatch: the client (rcvqbench"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("speaks 99"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "mismatch" / "run.json"));
}

TEST_F(TwoHosts, AnAgentKilledMidRunLeavesAnIncompleteRunAndNothingBehind) {
  std::unique_ptr<Background> client = long_run_over_ssh("killed");
  // No agent.pid yet reads as 0, and kill(0, ...) would kill this test's process group.
  const pid_t agent = agent_pid();
  ASSERT_GT(agent, 0) << client->output();
  ASSERT_EQ(kill(agent, SIGKILL), 0);
  EXPECT_EQ(client->wait(60), 1) << client->output();
  expect_incomplete_for_a_lost_receiver(run_json("killed"));
  // Nothing of the run is left: no ssh on the sender's side, only the sshd listener on
  // the receiver's, which listens on nothing but its own port, and nothing on the
  // receiver's device: the skb-layout probe is a tcx link, which dies with the agent.
  EXPECT_TRUE(wait_for([&] { return pids_in(sender_ns_).empty(); }, 10));
  EXPECT_TRUE(wait_for([&] { return pids_in(receiver_ns_, sshd_pid()).empty(); }, 10));
  EXPECT_TRUE(wait_for([&] { return command_output(fmt("ip netns exec {} bpftool net show dev rqrr0", receiver_ns_))
                                        .find("skb_layout") == std::string::npos; }, 10))
      << command_output(fmt("ip netns exec {} bpftool net show dev rqrr0", receiver_ns_));
  EXPECT_EQ(command_output(fmt("ip netns exec {} tc filter show dev rqrr0 ingress", receiver_ns_)), "");
  const std::string listening = command_output(fmt("ip netns exec {} ss -Htln", receiver_ns_));
  EXPECT_EQ(listening.find(":" + std::to_string(kSshPort)) != std::string::npos, true) << listening;
  EXPECT_EQ(std::count(listening.begin(), listening.end(), '\n'), 1) << listening;
}

TEST_F(TwoHosts, ANetworkCutMidRunEndsBothSidesAndLeavesAnIncompleteRun) {
  std::unique_ptr<Background> client = long_run_over_ssh("cut");
  sh(fmt("ip -n {} link set rqrs0 down", sender_ns_));
  // ssh's keep-alives end the control channel; the sender stops with it.
  EXPECT_EQ(client->wait(60), 1) << client->output();
  expect_incomplete_for_a_lost_receiver(run_json("cut"));
  EXPECT_TRUE(wait_for([&] { return pids_in(sender_ns_).empty(); }, 10));
  // The agent hears nothing either: it gives up past its deadline and removes what it
  // made (and sshd's own keep-alives end its session process).
  const pid_t agent = agent_pid();
  ASSERT_GT(agent, 0) << client->output();
  EXPECT_TRUE(wait_for([&] { return kill(agent, 0) != 0; }, 60)) << "the agent outlived a cut network";
  EXPECT_TRUE(wait_for([&] { return pids_in(receiver_ns_, sshd_pid()).empty(); }, 20));
  EXPECT_EQ(command_output(fmt("ip netns exec {} tc filter show dev rqrr0 ingress", receiver_ns_)), "");
  EXPECT_EQ(command_output(fmt("ip netns exec {} tc qdisc show dev rqrr0 ingress", receiver_ns_)), "");
}

TEST_F(TwoHosts, AClientKilledMidRunEndsTheAgent) {
  std::unique_ptr<Background> client = long_run_over_ssh("client-killed");
  // The client's rcvqbench itself, not the shell around it.
  std::set<pid_t> in_sender_ns = pids_in(sender_ns_);
  for (pid_t pid : in_sender_ns)
    if (slurp(fmt("/proc/{}/comm", pid)).rfind("rcvqbench", 0) == 0) kill(pid, SIGKILL);
  client->wait(20);
  EXPECT_TRUE(wait_for([&] { return pids_in(sender_ns_).empty(); }, 15)) << "ssh outlived its client";
  EXPECT_TRUE(wait_for([&] { return pids_in(receiver_ns_, sshd_pid()).empty(); }, 15)) << "the agent outlived its client";
}

TEST_F(TwoHosts, AListenAgentServesATokenHolderAndTurnsOthersAway) {
  std::unique_ptr<Background> agent = start_listen_agent("token");
  const std::string d = dir_.string();
  const Result ok = rcvqbench(fmt("run {0}/plan.yaml --remote {1} --token-file {0}/token --quiet --results-dir {0}/tcp",
                                  d, tcp_url()),
                              "ip netns exec " + sender_ns_);
  ASSERT_EQ(ok.code, 0) << ok.output << agent->output();
  const json run = run_json("tcp");
  EXPECT_EQ(run["complete"], true);
  expect_like_veth(run);

  const Result wrong = rcvqbench(
      fmt("run {0}/plan.yaml --remote {1} --token-file {0}/wrong-token --quiet --results-dir {0}/wrong", d, tcp_url()),
      "ip netns exec " + sender_ns_);
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.output.find("refused: the client's token does not match"), std::string::npos) << wrong.output;

  Background first("ip netns exec " + sender_ns_ + " " + RCQ_BIN() +
                       fmt(" run {0}/long.yaml --remote {1} --token-file {0}/token --quiet --results-dir {0}/first", d,
                           tcp_url()),
                   dir_ / "first.log");
  // Into its first repetition, so the agent is busy with it.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const Result second = rcvqbench(
      fmt("run {0}/plan.yaml --remote {1} --token-file {0}/token --quiet --results-dir {0}/second", d, tcp_url()),
      "ip netns exec " + sender_ns_);
  EXPECT_EQ(second.code, 1);
  EXPECT_NE(second.output.find("busy: this agent serves one client at a time"), std::string::npos) << second.output;

  // A stop signal ends the agent's session in order and the agent itself.
  kill(agent->pid(), SIGTERM);
  EXPECT_EQ(agent->wait(20), 130) << agent->output();
  EXPECT_EQ(first.wait(60), 1) << first.output();
  // Its skb-layout filter and the clsact qdisc it added are gone from the device.
  EXPECT_EQ(command_output(fmt("ip netns exec {} tc qdisc show dev rqrr0 ingress", receiver_ns_)), "");
  EXPECT_EQ(command_output(fmt("ip netns exec {} tc filter show dev rqrr0 ingress", receiver_ns_)), "");
}

}  // namespace
}  // namespace rcvq
