#pragma once
#include <stdexcept>
#include <string>

namespace rcvq {

// Bad input from the user (scenario, capture, command line): the CLI prints the
// message, which names the file and position, and exits with code 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The host refused something the run needs (namespace, socket, BPF attach): exit 1.
class RunError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// errno-carrying RunError: "what: strerror(errno)".
[[noreturn]] void throw_errno(const std::string& what);

inline constexpr int kExitOk = 0;
inline constexpr int kExitRunFailed = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitInterrupted = 130;  // SIGINT, SIGTERM, SIGHUP or SIGQUIT

}  // namespace rcvq
