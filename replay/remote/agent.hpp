#pragma once
#include <string>

#include "remote/protocol.hpp"

namespace rcvq::remote {

// `rcvqbench serve --stdio`: one session on stdin/stdout, as ssh starts it. The data
// connection is accepted on the address the ssh client reached (SSH_CONNECTION), or on
// the scenario's transport.device. Returns the exit code.
int serve_stdio();

// `rcvqbench serve --listen ADDR:PORT --token-file F`: sessions one after another; a
// client that arrives during one is told "busy", one without the token is refused.
// Returns the exit code (on a stop signal, or when it cannot listen).
int serve_listen(const std::string& address, const std::string& token_file);

// One session over `channel` until the client says bye or stops, the channel breaks,
// or this process is asked to stop. `data_address` is where the receivers listen;
// `token` what the client's hello must carry ("" for none). Throws ChannelError.
void serve_session(Channel& channel, const std::string& data_address, const std::string& token);

// The token file's content without a trailing newline; throws InputError when it
// cannot be read or is empty.
std::string read_token_file(const std::string& path);

}  // namespace rcvq::remote
