#pragma once
#include <memory>
#include <string>
#include <vector>

#include "run/runner.hpp"

namespace rcvq::remote {

// Where the agent runs: ssh://[USER@]HOST[:PORT] (ssh starts `serve --stdio` there) or
// tcp://HOST:PORT (a `serve --listen` agent).
struct AgentAddress {
  enum class Kind { Ssh, Tcp } kind = Kind::Ssh;
  std::string user;  // ssh only, "" = ssh's default
  std::string host;  // name or address, without brackets
  uint16_t port = 0;  // 0 = ssh's default (ssh only)
  std::string text;   // as given

  // Throws InputError naming what is wrong.
  static AgentAddress parse(const std::string& url);
};

struct ClientOptions {
  // Put before the destination on ssh's command line (-i KEY, -o UserKnownHostsFile=...),
  // after those from $RCVQBENCH_SSH_OPTIONS (split at spaces).
  std::vector<std::string> ssh_options;
  // What ssh runs on the receiver host before `serve --stdio` ($RCVQBENCH_REMOTE_COMMAND,
  // else "rcvqbench").
  std::string remote_command;
  std::string token_file;  // tcp:// only
};

// Opens the control connection and does the version handshake; throws RunError (with
// the agent's own message on a mismatch or refusal) or InputError for a bad address.
std::unique_ptr<RemoteReceiver> connect_agent(const AgentAddress& address, const ClientOptions& options);

}  // namespace rcvq::remote
