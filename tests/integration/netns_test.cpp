#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "transport/netns.hpp"

namespace rcvq {
namespace {

ino_t netns_inode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

TEST(Netns, GuardEntersAndLeavesAnAnonymousNamespace) {
  const ino_t host = netns_inode("/proc/thread-self/ns/net");
  Netns ns = Netns::create();
  {
    NetnsGuard inside(ns);
    EXPECT_NE(netns_inode("/proc/thread-self/ns/net"), host);
  }
  EXPECT_EQ(netns_inode("/proc/thread-self/ns/net"), host);
}

TEST(Netns, CommandsRunInsideAndFailuresCarryTheirOutput) {
  Netns ns = Netns::create();
  ns.run({"ip", "link", "add", "rqtest0", "type", "veth", "peer", "name", "rqtest1"});
  // The device exists only in the tool's namespace, never on the host.
  EXPECT_NE(access("/sys/class/net/rqtest0", F_OK), 0);
  try {
    ns.run({"ip", "link", "add", "rqtest0", "type", "veth", "peer", "name", "rqtest2"});
    FAIL() << "adding the same device twice must fail";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("exists"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rcvq
