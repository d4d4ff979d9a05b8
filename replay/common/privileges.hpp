#pragma once
#include <string>

namespace rcvq {

// Why this process cannot run a measurement ("" when it can): `run` creates network
// namespaces and devices and loads BPF programs, which take CAP_SYS_ADMIN and
// CAP_NET_ADMIN. Asked before anything is loaded, so a non-root user gets this one
// line instead of libbpf's complaints about RLIMIT_MEMLOCK.
std::string missing_run_privileges();

}  // namespace rcvq
