// AutoLOWAT on this host: the BPF objects load and attach, the real mode reports
// `unsupported` with what the kernel's BTF lacks, and the model's prediction is checked
// against the modes whose behaviour the hook shares.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "common/errors.hpp"
#include "framing/framing.hpp"
#include "receiver/autolowat_kernel.hpp"
#include "in_memory_run.hpp"
#include "scratch_cgroup.hpp"
#include "run/runner.hpp"
#include "scenario/load.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;

bool kernel_lacks_both_interfaces() {
  const AutolowatKernelSupport k = probe_autolowat_kernel();
  return !k.sockops_missing().empty() && !k.tcp_ops_missing().empty();
}

uint32_t attached_programs(int cgroup_fd, bpf_attach_type type) {
  uint32_t ids[8], count = 8;
  if (bpf_prog_query(cgroup_fd, type, 0, nullptr, ids, &count) != 0) return 0;
  return count;
}

TEST(Autolowat, ThisKernelLacksBothInterfacesAndSaysWhat) {
  const AutolowatKernelSupport k = probe_autolowat_kernel();
  ASSERT_TRUE(k.btf_loaded);
  if (!kernel_lacks_both_interfaces()) GTEST_SKIP() << "this kernel has an AutoLOWAT interface";
  const AutolowatBackendChoice choice = choose_autolowat_backend(k, "auto");
  EXPECT_EQ(choice.backend, AUTOLOWAT_BACKEND_NONE);
  EXPECT_NE(choice.reason.find("BPF_SOCK_OPS_RCVQ_CB"), std::string::npos) << choice.reason;
  EXPECT_NE(choice.reason.find("struct bpf_tcp_ops"), std::string::npos) << choice.reason;
  EXPECT_NE(choose_autolowat_backend(k, "sockops").reason.find("sockops"), std::string::npos);
  EXPECT_NE(choose_autolowat_backend(k, "tcp-ops").reason.find("tcp-ops"), std::string::npos);
}

// The sock_ops object loads here (its hook paths are dead code the verifier skips) and
// both programs attach to a cgroup the test made; a process in that cgroup gets
// EOPNOTSUPP for the pseudo option, from the program, while other options pass.
TEST(Autolowat, SockopsObjectLoadsAttachesAndAnswersThePseudoOption) {
  ScratchCgroup cgroup;
  if (cgroup.fd() < 0) GTEST_SKIP() << "no cgroup2 mount in /proc/mounts";
  const AutolowatKernelSupport k = probe_autolowat_kernel();
  AutolowatPrograms programs(framing_preset("kafka"), k, AUTOLOWAT_BACKEND_SOCKOPS);
  programs.attach(cgroup.fd());
  EXPECT_EQ(attached_programs(cgroup.fd(), BPF_CGROUP_SETSOCKOPT), 1u);
  EXPECT_EQ(attached_programs(cgroup.fd(), BPF_CGROUP_SOCK_OPS), 1u);

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::ofstream(cgroup.path() + "/cgroup.procs") << getpid() << std::flush;
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    const int err = request_autolowat(fd);
    const int lowat = 100;
    const bool normal_ok = setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat) == 0;
    _exit(!normal_ok ? 10 : err == EOPNOTSUPP ? 0 : err == 0 ? 11 : 12);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  const bool hook = !kernel_lacks_both_interfaces();
  if (!hook) EXPECT_EQ(WEXITSTATUS(status), 0) << "10: SO_RCVLOWAT broken, 11: accepted, 12: other errno";
  EXPECT_EQ(programs.enable_requests(), 1u);
  EXPECT_EQ(programs.enable_refusals(), hook ? 0u : 1u);

  programs.detach();
  EXPECT_EQ(attached_programs(cgroup.fd(), BPF_CGROUP_SETSOCKOPT), 0u);
  EXPECT_EQ(attached_programs(cgroup.fd(), BPF_CGROUP_SOCK_OPS), 0u);
}

// The struct_ops object cannot load where the kernel lacks struct bpf_tcp_ops; that
// failure must surface as an error naming it, never as a half-attached program.
TEST(Autolowat, TcpOpsObjectIsRefusedWithoutBpfTcpOps) {
  const AutolowatKernelSupport k = probe_autolowat_kernel();
  if (k.tcp_ops_type) GTEST_SKIP() << "this kernel has struct bpf_tcp_ops";
  try {
    AutolowatPrograms programs(framing_preset("desc8"), k, AUTOLOWAT_BACKEND_TCP_OPS);
    ADD_FAILURE() << "loaded a struct_ops map for a type the kernel lacks";
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find("bpf_tcp_ops"), std::string::npos) << e.what();
  }
}

Scenario chunked(const std::string& transport) {
  return parse_scenario(R"(
name: autolowat-test
source: {synthetic: {frames: 60, payload: 4000}}
framing: desc8
segmentation: {cut: {chunks: 9}, chunk_gap_us: 1000, frame_gap_us: 1000}
transport: )" + transport + R"(
receiver: {modes: [lowat-user, strparser, autolowat, autolowat-model]}
run: {repetitions: 1, warmup_frames: 5}
)",
                        "autolowat-test.yaml");
}

std::map<std::string, const ModeResult*> by_mode(const RunOutcome& out) {
  std::map<std::string, const ModeResult*> modes;
  for (const ModeResult& m : out.result.modes) modes[m.mode] = &m;
  return modes;
}

// Frames of 9 paced skbs. The hook parses the descriptor from the first skb, so the
// reader wakes once, when the last skb completes the frame: the same as the stream
// parser, one wakeup and one recv per frame. lowat-user cannot know the length before
// reading the descriptor, so it pays exactly one wakeup more per frame (and the
// setsockopt calls): that is the gap the model must show against it.
void expect_model_matches(const std::string& transport) {
  if (!kernel_lacks_both_interfaces()) GTEST_SKIP() << "this kernel has the hook: the model is not needed";
  const RunOutcome out = run_in_memory(chunked(transport));
  auto modes = by_mode(out);
  ASSERT_EQ(modes.count("autolowat"), 1u);
  EXPECT_EQ(modes["autolowat"]->status, "unsupported");
  EXPECT_NE(modes["autolowat"]->reason.find("BPF_SOCK_OPS_RCVQ_CB"), std::string::npos)
      << modes["autolowat"]->reason;

  ASSERT_EQ(modes["autolowat-model"]->status, "ok") << modes["autolowat-model"]->reason;
  ASSERT_FALSE(modes["autolowat-model"]->repetitions.empty());
  EXPECT_TRUE(modes["autolowat-model"]->repetitions.front().predicted);
  const json model = aggregate_metrics(*modes["autolowat-model"]);
  EXPECT_TRUE(model["predicted"].get<bool>());
  EXPECT_EQ(modes["autolowat-model"]->repetitions.front().extra["model"]["tracker_stopped"], "running");
  const double model_wakeups = model["wakeups_per_frame"].get<double>();
  EXPECT_NEAR(model_wakeups, 1.0, 0.05);
  EXPECT_EQ(model["setsockopt_per_frame"].get<double>(), 0.0);

  ASSERT_EQ(modes["lowat-user"]->status, "ok");
  const json lowat_user = aggregate_metrics(*modes["lowat-user"]);
  EXPECT_NEAR(lowat_user["wakeups_per_frame"].get<double>() - model_wakeups, 1.0, 0.15)
      << "lowat-user pays one wakeup per frame for the descriptor; the hook does not";

  if (modes["strparser"]->status == "ok") {
    const json strparser = aggregate_metrics(*modes["strparser"]);
    const double strparser_wakeups = strparser["wakeups_per_frame"].get<double>();
    EXPECT_NEAR(strparser_wakeups, model_wakeups, 0.15);
    // strparser's reader is edge-triggered, so each of its wakeups ends with one more
    // recv that returns EAGAIN; the modelled reader is level-triggered and does not.
    EXPECT_NEAR(strparser["syscalls_per_frame"].get<double>(),
                model["syscalls_per_frame"].get<double>() + strparser_wakeups, 0.3);
  } else {
    std::cout << "[ NOTE ] strparser " << modes["strparser"]->status << ": " << modes["strparser"]->reason << "\n";
  }
}

TEST(Autolowat, ModelMatchesStrparserAndExplainsLowatUserGapOverLoopback) {
  expect_model_matches("{kind: loopback}");
}

TEST(Autolowat, ModelMatchesStrparserAndExplainsLowatUserGapOverVeth) {
  expect_model_matches("{kind: veth}");
}

}  // namespace
}  // namespace rcvq
