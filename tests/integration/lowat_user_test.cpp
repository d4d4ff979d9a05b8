// lowat-user on a real TCP connection, one read at a time: each piece is sent only once
// the reader took the previous one, so every read sees exactly one piece and the
// setsockopt calls the mode makes follow from the frames alone, not from timing.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "receiver/connection.hpp"
#include "receiver/mode.hpp"
#include "scenario/load.hpp"
#include "transport/netns.hpp"

namespace rcvq {
namespace {

struct LoopbackConnection {
  Netns ns = Netns::create();  // comes with lo up
  int sender = -1;
  int receiver = -1;

  LoopbackConnection() {
    NetnsGuard inside(ns);
    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(listen(listener, 1), 0);
    EXPECT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    sender = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(connect(sender, reinterpret_cast<sockaddr*>(&addr), len), 0);
    receiver = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    EXPECT_GE(receiver, 0);
    close(listener);
  }
  ~LoopbackConnection() { close(sender); }
};

TEST(LowatUser, SetsSoRcvlowatOnlyForDataStillToComeAndNotAfterTheLastFrame) {
  const Scenario sc = parse_scenario("framing: desc8\n", "lowat.yaml");
  constexpr uint64_t kFrames = 5, kPayload = 1000, kFirstPiecePayload = 100;
  LoopbackConnection link;
  ASSERT_GE(link.receiver, 0);
  ReceiverCounters counters;
  Connection conn(link.receiver, sc.framing, counters, 0);
  conn.expect_frames(kFrames);
  const std::unique_ptr<ReceiverMode> mode = find_mode("lowat-user")->make(sc);
  mode->on_accept(conn);

  std::vector<uint8_t> frame(sc.framing.prefix_size() + kPayload, 0x5a);
  sc.framing.encode_prefix(frame.data(), 0, kPayload);
  const size_t first_piece = sc.framing.prefix_size() + kFirstPiecePayload;
  std::vector<uint8_t> buffer(65536);
  for (uint64_t f = 0; f < kFrames; ++f) {
    for (auto [at, size] : {std::pair{size_t(0), first_piece}, {first_piece, frame.size() - first_piece}}) {
      ASSERT_EQ(write(link.sender, frame.data() + at, size), ssize_t(size));
      // Readable only once SO_RCVLOWAT bytes are queued: the whole piece.
      pollfd pfd{link.receiver, POLLIN, 0};
      ASSERT_EQ(poll(&pfd, 1, 5000), 1) << "frame " << f << " piece at " << at;
      ASSERT_EQ(conn.receive(buffer.data(), buffer.size()), ssize_t(size));
      mode->after_read(conn);
    }
  }
  ASSERT_EQ(conn.frames_completed(), kFrames);
  // Every frame's first piece leaves the rest of it to wait for, and every frame but
  // the last leaves the next frame's prefix to wait for: 2 per frame, less the last one.
  EXPECT_EQ(counters.setsockopt_calls, 2 * kFrames - 1);
  EXPECT_EQ(conn.rcvlowat(), int(kPayload - kFirstPiecePayload));
}

}  // namespace
}  // namespace rcvq
