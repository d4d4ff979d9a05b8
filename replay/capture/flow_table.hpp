#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "capture/decode.hpp"
#include "capture/pcap_reader.hpp"
#include "capture/reassembly.hpp"

namespace rcvq {

// A TCP connection, keyed by its two endpoints in canonical (sorted) order.
struct FlowKey {
  Endpoint low, high;
  bool operator==(const FlowKey&) const = default;
  // Ordered by port first, which spares comparing the addresses on nearly every packet.
  static FlowKey of(const Endpoint& a, const Endpoint& b) {
    const bool a_first = a.port != b.port ? a.port < b.port : a < b;
    return a_first ? FlowKey{a, b} : FlowKey{b, a};
  }
};

struct FlowKeyHash {
  size_t operator()(const FlowKey& key) const;
};

struct Flow;

// The current flow of each pair of endpoints, in one open-addressed array: the lookup
// every packet makes reads one slot where a node-based map would chase a bucket and
// two list nodes, each a likely cache miss behind the packet bytes streaming past.
class FlowIndex {
 public:
  // The flow on `key`'s endpoints, null until one is assigned through the reference,
  // which stays valid until the next call.
  Flow*& operator[](const FlowKey& key);

 private:
  struct Slot {
    FlowKey key;
    Flow* flow = nullptr;
    bool used = false;
  };
  size_t home(const FlowKey& key) const;
  void grow();

  std::vector<Slot> slots_;  // a power of two long, at most half used
  size_t used_ = 0;
  int index_bits_ = 0;
};

struct Flow {
  uint64_t id = 0;             // 0-based in order of first packet (tshark's tcp.stream)
  uint64_t first_packet = 0;
  std::array<Endpoint, 2> endpoints;  // [0] sent the flow's first packet
  // Direction d carries bytes from endpoints[d] to endpoints[1 - d].
  std::array<std::unique_ptr<DirectionReassembler>, 2> directions;
  std::array<bool, 2> sent_syn{}, sent_syn_ack{};
  int client = 0;                 // index of the client endpoint, once finished
  std::string client_evidence;    // "SYN", "SYN-ACK", or "port numbers"

  uint64_t stream_bytes(int direction) const { return directions[direction]->stats().stream_bytes; }
  bool handshake_seen() const { return sent_syn[0] || sent_syn[1]; }
};

struct FlowTableLimits {
  ReassemblyLimits reassembly;
  uint64_t max_flows = 100'000;
  std::string max_flows_name = "max_flows";  // the key or option that sets it, for messages
};

// All TCP flows of a capture, reassembled per direction into sinks the caller makes.
class FlowTable {
 public:
  using SinkFactory = std::function<StreamSink*(const Flow& flow, int direction)>;
  // `file` names the capture in messages.
  FlowTable(const std::string& file, const FlowTableLimits& limits, SinkFactory make_sink);

  // Throws InputError naming the file and packet when the flow cap is exceeded.
  void add(const TcpSegment& segment, const CapturedPacket& packet);
  void finish();  // closes every direction and decides which side is the client

  const std::vector<std::unique_ptr<Flow>>& flows() const { return flows_; }

 private:
  std::string file_;
  FlowTableLimits limits_;
  SinkFactory make_sink_;
  FlowIndex current_;
  std::vector<std::unique_ptr<Flow>> flows_;
};

// Parses "10.0.0.1:5000-10.0.0.2:80" or "[::1]:5000-[::1]:80"; throws InputError.
std::array<Endpoint, 2> parse_flow_tuple(const std::string& text);

}  // namespace rcvq
