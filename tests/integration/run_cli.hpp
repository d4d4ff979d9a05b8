#pragma once
// The built rcvqbench (RCVQ_BINARY) run through the shell as a user would: its exit
// code and what it printed.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace rcvq {

struct Result {
  int code;            // the exit status; -1 if it did not exit normally or never started
  std::string output;  // stdout and stderr, or stdout alone (see Capture)
};

enum class Capture {
  StdoutAndStderr,  // interleaved, as a terminal shows them
  StdoutOnly,       // stderr left on the test's own, e.g. when stdout is JSON to parse
};

// `env` is a prefix for the command line, e.g. "RCVQBENCH_VMRUN=/path/to/stand-in".
inline Result rcvqbench(const std::string& args, const std::string& env = "",
                        Capture capture = Capture::StdoutAndStderr) {
  std::string command = (env.empty() ? "" : env + " ") + std::string(RCVQ_BINARY) + " " + args;
  if (capture == Capture::StdoutAndStderr) command += " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {-1, ""};
  std::string output;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) output.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace rcvq
