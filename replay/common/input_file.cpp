#include "common/input_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/errors.hpp"

namespace rcvq {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Opens without blocking on a FIFO that has no writer, then checks the type on the
// descriptor itself, so the file checked is the file read.
int open_regular(const std::string& path, const std::string& what, struct stat& st) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw InputError(fmt::format("{}: cannot read {}: {}", path, what, std::strerror(errno)));
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    throw InputError(fmt::format("{}: cannot stat {}: {}", path, what, std::strerror(error)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(fmt::format("{}: {} must be a regular file, this is {}", path, what, kind_of(st.st_mode)));
  }
  return fd;
}

}  // namespace

uint64_t regular_file_size(const std::string& path, const std::string& what) {
  struct stat st {};
  ::close(open_regular(path, what, st));
  return uint64_t(st.st_size);
}

std::string read_regular_file(const std::string& path, uint64_t max_bytes, const std::string& what) {
  struct stat st {};
  const int fd = open_regular(path, what, st);
  if (uint64_t(st.st_size) > max_bytes) {
    ::close(fd);
    throw InputError(fmt::format("{}: {} is {} bytes, over the limit of {} bytes", path, what, st.st_size, max_bytes));
  }
  // One byte more than its size: getting it means the file grew while being read.
  std::string text(size_t(st.st_size) + 1, '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw InputError(fmt::format("{}: cannot read {}: {}", path, what, std::strerror(error)));
    }
    if (n == 0) break;
    done += size_t(n);
  }
  ::close(fd);
  if (done > uint64_t(st.st_size)) throw InputError(fmt::format("{}: {} grew while being read", path, what));
  text.resize(done);
  return text;
}

}  // namespace rcvq
