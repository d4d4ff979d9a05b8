#pragma once
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace rcvq {

// Makes the syscalls `numbers` fail with `error` for the calling thread and the threads
// it starts from now on (a seccomp filter without TSYNC), the rest of the process
// unchanged.
inline void deny_syscalls_on_this_thread(std::initializer_list<int> numbers, int error) {
  std::vector<sock_filter> filter = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
  };
  // Each match jumps over the matches after it and the ALLOW, to the ERRNO return.
  uint8_t to_deny = uint8_t(numbers.size());
  for (int nr : numbers) filter.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, uint32_t(nr), to_deny--, 0));
  filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | uint32_t(error)));
  sock_fprog program{static_cast<unsigned short>(filter.size()), filter.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0)
    throw std::runtime_error(std::string("cannot install the seccomp filter: ") + std::strerror(errno));
}

// The host as it is where perf events are forbidden.
inline void deny_perf_event_open_on_this_thread() { deny_syscalls_on_this_thread({__NR_perf_event_open}, EACCES); }

}  // namespace rcvq
