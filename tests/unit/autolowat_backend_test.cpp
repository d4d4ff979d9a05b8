// Backend choice from a kernel's BTF, with BTF built here to stand for kernels that
// have the v3 hook, the struct_ops revision, both, or neither.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "receiver/autolowat_kernel.hpp"

namespace rcvq {
namespace {

// Kernel BTF with the types the kfunc prototypes use; kfuncs declared as the series
// does unless a test says otherwise.
class FakeBtf {
 public:
  FakeBtf() : btf_(btf__new_empty()) {
    int_ = btf__add_int(btf_, "int", 4, BTF_INT_SIGNED);
    long_ = btf__add_int(btf_, "long", 8, BTF_INT_SIGNED);
    u32_ = btf__add_typedef(btf_, "u32", btf__add_int(btf_, "unsigned int", 4, 0));
  }
  ~FakeBtf() { btf__free(btf_); }
  FakeBtf(const FakeBtf&) = delete;

  struct btf* get() { return btf_; }
  int int_type() const { return int_; }
  int long_type() const { return long_; }
  int u32_type() const { return u32_; }
  int pointer_to(const char* struct_name) {
    return btf__add_ptr(btf_, btf__add_struct(btf_, struct_name, 8));
  }
  // The parameter types must exist already: parameters attach to the last type added.
  void kfunc(const char* name, int return_type, std::initializer_list<int> params) {
    const int proto = btf__add_func_proto(btf_, return_type);
    for (int param : params) btf__add_func_param(btf_, "", param);
    btf__add_func(btf_, name, BTF_FUNC_GLOBAL, proto);
  }
  // An anonymous enum, as the uapi declares the sock_ops ops and flags.
  void enum_value(const char* enum_name, const char* name, int64_t value) {
    btf__add_enum(btf_, enum_name, 4);
    btf__add_enum_value(btf_, name, value);
  }

 private:
  struct btf* btf_;
  int int_, long_, u32_;
};

struct FakeKernel {
  bool sockops = false, tcp_ops = false;

  AutolowatKernelSupport probe() const {
    FakeBtf btf;
    btf.enum_value("", "BPF_SOCK_OPS_TSTAMP_SENDMSG_CB", 20);
    if (sockops) {
      btf.enum_value("", "BPF_SOCK_OPS_RCVQ_CB", 21);
      btf.enum_value("", "BPF_SOCK_OPS_RCVQ_CB_FLAG", 0x80);
      const int skops = btf.pointer_to("bpf_sock_ops_kern");
      btf.kfunc("bpf_sock_ops_tcp_set_rcvlowat", btf.int_type(), {skops, btf.int_type()});
    }
    if (tcp_ops) {
      btf__add_struct(btf.get(), "bpf_tcp_ops", 8);
      const int sk = btf.pointer_to("sock"), tp = btf.pointer_to("tcp_sock");
      btf.kfunc("bpf_tcp_ops_set_rcvlowat", btf.int_type(), {sk, btf.int_type()});
      btf.kfunc("bpf_tcp_ops_set_flags", btf.int_type(), {tp, btf.u32_type(), btf.u32_type()});
      btf.enum_value("", "BPF_TCP_OPS_FLAG_RCVQ", 16);
      btf.enum_value("bpf_attach_type", "BPF_CGROUP_TCP_SOCK_OPS", 60);
    }
    return probe_autolowat_btf(btf.get());
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

TEST(AutolowatBackend, SeriesPrototypesMatchThroughTypedefs) {
  const AutolowatKernelSupport k = FakeKernel{true, true}.probe();
  EXPECT_EQ(k.sockops_set_rcvlowat.prototype, kSockopsSetRcvlowatPrototype);
  EXPECT_TRUE(k.sockops_set_rcvlowat.matches);
  EXPECT_EQ(k.tcp_ops_set_rcvlowat.prototype, kTcpOpsSetRcvlowatPrototype);
  // Declared with u32, a typedef: the verifier compares what it resolves to.
  EXPECT_EQ(k.tcp_ops_set_flags.prototype, kTcpOpsSetFlagsPrototype);
  EXPECT_TRUE(k.tcp_ops_set_flags.matches);
}

// The right name with another prototype is another revision of the interface: the
// backend is unsupported and the reason shows the prototype the kernel declares.
TEST(AutolowatBackend, SockopsKfuncWithAnotherPrototypeIsUnsupportedAndShown) {
  FakeBtf btf;
  btf.enum_value("", "BPF_SOCK_OPS_RCVQ_CB", 16);
  btf.enum_value("", "BPF_SOCK_OPS_RCVQ_CB_FLAG", 0x80);
  const int sk = btf.pointer_to("sock");
  btf.kfunc("bpf_sock_ops_tcp_set_rcvlowat", btf.long_type(), {sk, btf.int_type()});
  const AutolowatKernelSupport k = probe_autolowat_btf(btf.get());
  EXPECT_TRUE(k.sockops_set_rcvlowat.present);
  EXPECT_FALSE(k.sockops_set_rcvlowat.matches);
  const AutolowatBackendChoice c = choose_autolowat_backend(k, "sockops");
  EXPECT_EQ(c.backend, AUTOLOWAT_BACKEND_NONE);
  EXPECT_NE(c.reason.find("bpf_sock_ops_tcp_set_rcvlowat is `long (struct sock *, int)`, not "
                          "`int (struct bpf_sock_ops_kern *, int)`"),
            std::string::npos)
      << c.reason;
}

TEST(AutolowatBackend, TcpOpsKfuncsWithOtherArityAreUnsupportedAndShown) {
  FakeBtf btf;
  btf__add_struct(btf.get(), "bpf_tcp_ops", 8);
  const int sk = btf.pointer_to("sock"), tp = btf.pointer_to("tcp_sock");
  btf.kfunc("bpf_tcp_ops_set_rcvlowat", btf.int_type(), {sk, btf.int_type(), btf.int_type()});
  btf.kfunc("bpf_tcp_ops_set_flags", btf.int_type(), {tp, btf.u32_type()});
  btf.enum_value("", "BPF_TCP_OPS_FLAG_RCVQ", 16);
  btf.enum_value("bpf_attach_type", "BPF_CGROUP_TCP_SOCK_OPS", 60);
  const AutolowatBackendChoice c = choose_autolowat_backend(probe_autolowat_btf(btf.get()), "tcp-ops");
  EXPECT_EQ(c.backend, AUTOLOWAT_BACKEND_NONE);
  EXPECT_NE(c.reason.find("bpf_tcp_ops_set_rcvlowat is `int (struct sock *, int, int)`"), std::string::npos)
      << c.reason;
  EXPECT_NE(c.reason.find("bpf_tcp_ops_set_flags is `int (struct tcp_sock *, unsigned int)`"), std::string::npos)
      << c.reason;
  EXPECT_EQ(c.reason.find("lacks"), std::string::npos) << "nothing is missing: " << c.reason;
}

// What the receiver says about a connection accepted from an armed listener.
TEST(AutolowatRecord, InheritedHookProblemNamesWhereEnablingStopped) {
  EXPECT_NE(inherited_hook_problem(nullptr).find("no AutoLOWAT record"), std::string::npos);
  autolowat_counters r{};
  r.armed = 1;
  EXPECT_NE(inherited_hook_problem(&r).find("did not run for it at passive-established"), std::string::npos);
  r.armed = 0;
  r.last_error = EUCLEAN;
  EXPECT_NE(inherited_hook_problem(&r).find(std::strerror(EUCLEAN)), std::string::npos)
      << inherited_hook_problem(&r);
  r.enabled = 1;
  EXPECT_EQ(inherited_hook_problem(&r), "");
}

}  // namespace
}  // namespace rcvq
