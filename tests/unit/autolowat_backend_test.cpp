// Backend choice from a kernel's BTF, with BTF built here to stand for kernels that
// have the v3 hook, the struct_ops revision, both, or neither.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include "receiver/autolowat_kernel.hpp"

namespace rcvq {
namespace {

struct FakeKernel {
  bool sockops = false, tcp_ops = false;

  AutolowatKernelSupport probe() const {
    struct btf* btf = btf__new_empty();
    const int int_type = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
    // An anonymous enum, as the uapi declares the sock_ops ops and flags.
    btf__add_enum(btf, "", 4);
    btf__add_enum_value(btf, "BPF_SOCK_OPS_TSTAMP_SENDMSG_CB", 20);
    if (sockops) {
      btf__add_enum_value(btf, "BPF_SOCK_OPS_RCVQ_CB", 21);
      btf__add_enum(btf, "", 4);
      btf__add_enum_value(btf, "BPF_SOCK_OPS_RCVQ_CB_FLAG", 0x80);
    }
    const int proto = btf__add_func_proto(btf, int_type);
    if (sockops) btf__add_func(btf, "bpf_sock_ops_tcp_set_rcvlowat", BTF_FUNC_GLOBAL, proto);
    if (tcp_ops) {
      btf__add_struct(btf, "bpf_tcp_ops", 8);
      btf__add_func(btf, "bpf_tcp_ops_set_rcvlowat", BTF_FUNC_GLOBAL, proto);
      btf__add_func(btf, "bpf_tcp_ops_set_flags", BTF_FUNC_GLOBAL, proto);
      btf__add_enum(btf, "", 4);
      btf__add_enum_value(btf, "BPF_TCP_OPS_FLAG_RCVQ", 16);
      btf__add_enum(btf, "bpf_attach_type", 4);
      btf__add_enum_value(btf, "BPF_CGROUP_TCP_SOCK_OPS", 60);
    }
    AutolowatKernelSupport s = probe_autolowat_btf(btf);
    btf__free(btf);
    return s;
  }
};

TEST(AutolowatBackend, NeitherInterfaceNamesWhatIsMissing) {
  const AutolowatKernelSupport k = FakeKernel{}.probe();
  const AutolowatBackendChoice c = choose_autolowat_backend(k, "auto");
  EXPECT_EQ(c.backend, AUTOLOWAT_BACKEND_NONE);
  EXPECT_NE(c.reason.find("BPF_SOCK_OPS_RCVQ_CB"), std::string::npos);
  EXPECT_NE(c.reason.find("struct bpf_tcp_ops"), std::string::npos);
}

TEST(AutolowatBackend, SockopsKernelGivesEnumValuesFromBtf) {
  const AutolowatKernelSupport k = FakeKernel{true, false}.probe();
  EXPECT_EQ(k.rcvq_cb_op, 21u);
  EXPECT_EQ(k.rcvq_cb_flag, 0x80u);
  EXPECT_EQ(choose_autolowat_backend(k, "auto").backend, AUTOLOWAT_BACKEND_SOCKOPS);
  EXPECT_EQ(choose_autolowat_backend(k, "sockops").backend, AUTOLOWAT_BACKEND_SOCKOPS);
  const AutolowatBackendChoice forced = choose_autolowat_backend(k, "tcp-ops");
  EXPECT_EQ(forced.backend, AUTOLOWAT_BACKEND_NONE);
  EXPECT_NE(forced.reason.find("bpf_tcp_ops"), std::string::npos);
}

TEST(AutolowatBackend, AutoPrefersTheStructOpsRevisionWhenBothExist) {
  const AutolowatKernelSupport k = FakeKernel{true, true}.probe();
  EXPECT_EQ(k.tcp_ops_flag_rcvq, 16u);
  EXPECT_EQ(k.tcp_ops_attach_type, 60u);
  EXPECT_EQ(choose_autolowat_backend(k, "auto").backend, AUTOLOWAT_BACKEND_TCP_OPS);
  EXPECT_EQ(choose_autolowat_backend(k, "sockops").backend, AUTOLOWAT_BACKEND_SOCKOPS);
}

}  // namespace
}  // namespace rcvq
