#pragma once
#include <string>
#include <vector>

namespace rcvq {

// tools/vmrun, the QEMU runner: $RCVQBENCH_VMRUN when set, else the one in the source
// tree this binary was built from. Throws InputError naming what is missing.
std::string find_vmrun();

struct ChildOutcome {
  int exit_code = -1;      // the child's, or 128 + signal when a signal ended it
  std::string stdout_text;
  std::vector<std::string> stderr_tail;  // its last stderr lines, where a failure says why
  bool stop_forwarded = false;   // a stop request reached us and was passed on
};

// Runs argv[0] with argv, its stderr passed through as it comes, its stdout collected
// (and echoed as it comes when echo_stdout). A stop request (Ctrl-C, SIGTERM) is passed
// on as SIGTERM and the child is still waited for, so it can clean up.
ChildOutcome run_child(const std::vector<std::string>& argv, bool echo_stdout);

}  // namespace rcvq
