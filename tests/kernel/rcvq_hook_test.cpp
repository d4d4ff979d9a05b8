// The kernel side of AutoLOWAT, driven through our own BPF programs: the v3 series'
// selftest patterns (desc8 frames {u32 header_len, u32 payload_len}, little endian),
// the -EUCLEAN rule, and RCVQ_CB vs SOCKMAP refused both ways. Runs inside the test
// kernel (tools/kernel/build, under tools/vmrun); on a kernel without the hook each
// test skips with what its BTF lacks, unless RCVQ_REQUIRE_HOOK=1 makes that a failure.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "framing/framing.hpp"
#include "integration/scoped_fd.hpp"
#include "integration/scratch_cgroup.hpp"
#include "receiver/autolowat_kernel.hpp"

#define FT_LOAD_BYTES(reader, offset, dst, len) (-1) /* only the state layout is used */
#include "frame_tracker.h"

namespace rcvq {
namespace {

// desc8 frames as the selftest builds them: descriptor, header bytes, payload bytes.
std::vector<uint8_t> desc8_stream(std::initializer_list<std::pair<uint32_t, uint32_t>> frames) {
  std::vector<uint8_t> out;
  for (auto [header_len, payload_len] : frames) {
    for (uint32_t v : {header_len, payload_len})
      for (int b = 0; b < 4; ++b) out.push_back(uint8_t(v >> (8 * b)));
    for (uint32_t i = 0; i < header_len + payload_len; ++i) out.push_back(uint8_t(i * 7 + 1));
  }
  return out;
}

class HookKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_ = probe_autolowat_kernel();
    const std::string missing = kernel_.sockops_missing();
    if (!missing.empty()) {
      if (const char* require = std::getenv("RCVQ_REQUIRE_HOOK"); require && std::string(require) == "1")
        FAIL() << "RCVQ_REQUIRE_HOOK=1 but " << missing;
      GTEST_SKIP() << missing;
    }
    cgroup_ = std::make_unique<ScratchCgroup>();
    ASSERT_GE(cgroup_->fd(), 0) << "no cgroup2 mount in /proc/mounts";
    programs_ = std::make_unique<AutolowatPrograms>(framing_preset("desc8"), kernel_, AUTOLOWAT_BACKEND_SOCKOPS);
    programs_->attach(cgroup_->fd());
    inside_ = std::make_unique<InsideCgroup>(*cgroup_);
    listener_ = Fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    ASSERT_EQ(listen(listener_.get(), 8), 0);
    socklen_t len = sizeof addr_;
    ASSERT_EQ(getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr_), &len), 0);
  }

  void TearDown() override {
    inside_.reset();
    programs_.reset();
    cgroup_.reset();
  }

  // client -> child over loopback, Nagle off so every send is its own skb.
  std::pair<Fd, Fd> connect_pair() {
    Fd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int one = 1;
    setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    EXPECT_EQ(connect(client.get(), reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_), 0)
        << std::strerror(errno);
    Fd child(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    EXPECT_GE(child.get(), 0) << std::strerror(errno);
    return {std::move(client), std::move(child)};
  }

  // The application's way in the selftest: the pseudo option on the idle accepted socket.
  std::pair<Fd, Fd> enabled_pair() {
    auto pair = connect_pair();
    const int err = request_autolowat(pair.second.get());
    EXPECT_EQ(err, 0) << std::strerror(err);
    return pair;
  }

  // Sends the next `n` bytes of the stream, then waits until the child has them all
  // queued (FIONREAD counts what the hook has already seen), so readability is judged
  // on a settled queue and not on softirq timing.
  void send_next(int client, int child, size_t n) {
    ASSERT_LE(sent_ + n, stream_.size());
    ASSERT_EQ(send(client, stream_.data() + sent_, n, 0), ssize_t(n)) << std::strerror(errno);
    sent_ += n;
    wait_unread(child, sent_ - read_);
  }

  void wait_unread(int child, size_t expected) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int unread = -1;
    while (std::chrono::steady_clock::now() < deadline) {
      ASSERT_EQ(ioctl(child, FIONREAD, &unread), 0);
      if (size_t(unread) == expected) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    FAIL() << "the child holds " << unread << " unread bytes, expected " << expected;
  }

  void read_exactly(int child, size_t n) {
    std::vector<uint8_t> buf(n);
    ASSERT_EQ(recv(child, buf.data(), n, MSG_DONTWAIT), ssize_t(n)) << std::strerror(errno);
    EXPECT_EQ(std::memcmp(buf.data(), stream_.data() + read_, n), 0);
    read_ += n;
  }

  static bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
  }

  static int rcvlowat(int fd) {
    int v = -1;
    socklen_t len = sizeof v;
    getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, &len);
    return v;
  }

  void expect_state(int child, bool want_readable, int want_lowat, const char* step) {
    EXPECT_EQ(readable(child), want_readable) << step;
    EXPECT_EQ(rcvlowat(child), want_lowat) << step;
  }

  AutolowatKernelSupport kernel_;
  std::unique_ptr<ScratchCgroup> cgroup_;
  std::unique_ptr<AutolowatPrograms> programs_;
  std::unique_ptr<InsideCgroup> inside_;
  Fd listener_;
  sockaddr_in addr_{};
  std::vector<uint8_t> stream_;
  size_t sent_ = 0, read_ = 0;
};

TEST_F(HookKernel, OneWholeFrameSetsLowatToItsLengthAndIsReadable) {
  stream_ = desc8_stream({{100, 150}});
  auto [client, child] = enabled_pair();
  send_next(client.get(), child.get(), 258);
  expect_state(child.get(), true, 258, "one 258-byte frame");
}

TEST_F(HookKernel, CompleteFramesKeepLowatAtTheirEndSoTheReaderWakes) {
  stream_ = desc8_stream({{100, 150}, {100, 150}, {100, 150}});
  auto [client, child] = enabled_pair();
  send_next(client.get(), child.get(), 516);
  expect_state(child.get(), true, 516, "two frames in one skb");
  send_next(client.get(), child.get(), 258);
  expect_state(child.get(), true, 774, "the third frame");
}

TEST_F(HookKernel, ANextDescriptorDoesNotMoveLowatPastUnreadCompleteFrames) {
  stream_ = desc8_stream({{100, 150}, {100, 150}, {100, 150}});
  auto [client, child] = enabled_pair();
  send_next(client.get(), child.get(), 516);
  expect_state(child.get(), true, 516, "two frames");
  send_next(client.get(), child.get(), 8);
  expect_state(child.get(), true, 516, "the third frame's descriptor alone");
}

TEST_F(HookKernel, SplitDescriptorsAndTheRecvmsgHookFollowTheFrames) {
  stream_ = desc8_stream({{100, 150}, {200, 500}});
  auto [client, child] = enabled_pair();
  send_next(client.get(), child.get(), 1);
  expect_state(child.get(), false, 8, "1 byte of the descriptor");
  send_next(client.get(), child.get(), 7);
  expect_state(child.get(), false, 258, "the rest of the descriptor");
  send_next(client.get(), child.get(), 100);
  expect_state(child.get(), false, 258, "the header");
  send_next(client.get(), child.get(), 151);
  expect_state(child.get(), true, 258, "the payload and 1 byte of the next descriptor");
  read_exactly(child.get(), 258);
  expect_state(child.get(), false, 8, "after reading frame 1 (recvmsg hook)");
  send_next(client.get(), child.get(), 7);
  expect_state(child.get(), false, 708, "the rest of frame 2's descriptor");
}

// The receiver's way: armed on the listener, switched on at passive-established, so
// nothing can be queued before the hook is on.
TEST_F(HookKernel, AListenerArmsTheConnectionsItAccepts) {
  const int err = request_autolowat(listener_.get());
  ASSERT_EQ(err, 0) << std::strerror(err);
  stream_ = desc8_stream({{100, 150}, {200, 500}});
  auto [client, child] = connect_pair();
  struct {
    ft_state ft;
    autolowat_counters counters;
  } record{};
  ASSERT_TRUE(programs_->socket_record(child.get(), &record, sizeof record));
  EXPECT_EQ(inherited_hook_problem(&record.counters), "");
  send_next(client.get(), child.get(), 100);
  expect_state(child.get(), false, 258, "frame 1's descriptor and part of its header");
  send_next(client.get(), child.get(), 158);
  expect_state(child.get(), true, 258, "the rest of frame 1");
}

TEST_F(HookKernel, EnablingWithDataQueuedFailsWithEUCLEAN) {
  stream_ = desc8_stream({{100, 150}});
  auto [client, child] = connect_pair();
  send_next(client.get(), child.get(), 10);
  EXPECT_EQ(request_autolowat(child.get()), EUCLEAN);
  expect_state(child.get(), true, 1, "refused: rcvlowat untouched");
  read_exactly(child.get(), 10);
  EXPECT_EQ(request_autolowat(child.get()), 0) << "drained, the same socket may enable";
}

int sockmap() {
  return bpf_map_create(BPF_MAP_TYPE_SOCKMAP, "rcvq_test_map", sizeof(uint32_t), sizeof(uint32_t), 1, nullptr);
}

TEST_F(HookKernel, ASocketWithTheHookCannotJoinASockmap) {
  auto [client, child] = enabled_pair();
  Fd map(sockmap());
  ASSERT_GE(map.get(), 0) << std::strerror(errno);
  const uint32_t key = 0, fd = uint32_t(child.get());
  EXPECT_NE(bpf_map_update_elem(map.get(), &key, &fd, BPF_ANY), 0);
  EXPECT_EQ(errno, EBUSY);
}

TEST_F(HookKernel, ASocketInASockmapCannotEnableTheHook) {
  auto [client, child] = connect_pair();
  Fd map(sockmap());
  ASSERT_GE(map.get(), 0) << std::strerror(errno);
  const uint32_t key = 0, fd = uint32_t(child.get());
  ASSERT_EQ(bpf_map_update_elem(map.get(), &key, &fd, BPF_ANY), 0) << std::strerror(errno);
  EXPECT_EQ(request_autolowat(child.get()), EBUSY);
  ASSERT_EQ(bpf_map_delete_elem(map.get(), &key), 0);
  EXPECT_EQ(request_autolowat(child.get()), 0) << "out of the sockmap, the hook may go on";
}

}  // namespace
}  // namespace rcvq
