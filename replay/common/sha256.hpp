#pragma once
#include <string>
#include <string_view>

namespace rcvq {

// SHA-256 as lowercase hex (OpenSSL's libcrypto), to name a kernel image by its content.
std::string sha256_hex(std::string_view data);
// Hex digest of a file's content; throws InputError naming the file when unreadable.
std::string sha256_of_file(const std::string& path);

}  // namespace rcvq
