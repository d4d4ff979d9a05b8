#include "common/errors.hpp"

#include <cerrno>
#include <cstring>

namespace rcvq {

void throw_errno(const std::string& what) {
  throw RunError(what + ": " + std::strerror(errno));
}

}  // namespace rcvq
