#include "capture/flow_table.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <cctype>

#include "common/errors.hpp"

namespace rcvq {

size_t FlowKeyHash::operator()(const FlowKey& key) const {
  // FNV-1a over the addresses and ports: cheap and good enough for a hash table key.
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  };
  for (const Endpoint* e : {&key.low, &key.high}) {
    mix(e->address.data(), e->family == 4 ? 4 : 16);
    const uint8_t port[2] = {uint8_t(e->port >> 8), uint8_t(e->port)};
    mix(port, 2);
  }
  return size_t(h);
}

Flow*& FlowIndex::operator[](const FlowKey& key) {
  if (2 * (used_ + 1) > slots_.size()) grow();
  const size_t mask = slots_.size() - 1;
  for (size_t at = home(key);; at = (at + 1) & mask) {
    Slot& slot = slots_[at];
    if (!slot.used) {
      slot.used = true;
      slot.key = key;
      ++used_;
      return slot.flow;
    }
    if (slot.key == key) return slot.flow;
  }
}

size_t FlowIndex::home(const FlowKey& key) const {
  // The product's top bits: they depend on every bit of the hash, whose low bits
  // (FNV-1a's) depend only on the low bits of each byte.
  return size_t((uint64_t(FlowKeyHash{}(key)) * 0x9E3779B97F4A7C15ULL) >> (64 - index_bits_));
}

void FlowIndex::grow() {
  std::vector<Slot> old = std::move(slots_);
  index_bits_ = old.empty() ? 6 : index_bits_ + 1;
  slots_.assign(size_t(1) << index_bits_, Slot{});
  used_ = 0;
  for (const Slot& slot : old)
    if (slot.used) (*this)[slot.key] = slot.flow;
}

FlowTable::FlowTable(const std::string& file, const FlowTableLimits& limits, SinkFactory make_sink)
    : file_(file), limits_(limits), make_sink_(std::move(make_sink)) {}

void FlowTable::add(const TcpSegment& segment, const CapturedPacket& packet) {
  Flow*& current = current_[FlowKey::of(segment.source, segment.destination)];
  Flow* flow = current;
  const bool opening_syn = (segment.flags & (kTcpSyn | kTcpAck)) == kTcpSyn;
  // A fresh SYN on a closed connection's endpoints starts a new connection (port reuse).
  if (flow && opening_syn) {
    const DirectionStats& a = flow->directions[0]->stats();
    const DirectionStats& b = flow->directions[1]->stats();
    if (a.fin || a.rst || b.fin || b.rst) flow = nullptr;
  }
  if (!flow) {
    if (flows_.size() >= limits_.max_flows)
      throw InputError(fmt::format("{}: packet {}: more than {} TCP flows (raise {})", file_, packet.number,
                                   limits_.max_flows, limits_.max_flows_name));
    auto created = std::make_unique<Flow>();
    created->id = flows_.size();
    created->first_packet = packet.number;
    created->endpoints = {segment.source, segment.destination};
    for (int d = 0; d < 2; ++d)
      created->directions[d] = std::make_unique<DirectionReassembler>(limits_.reassembly, make_sink_(*created, d));
    flow = created.get();
    flows_.push_back(std::move(created));
    current = flow;
  }
  const int direction = segment.source == flow->endpoints[0] ? 0 : 1;
  if (segment.flags & kTcpSyn) {
    if (segment.flags & kTcpAck) flow->sent_syn_ack[direction] = true;
    else flow->sent_syn[direction] = true;
  }
  flow->directions[direction]->on_segment(segment, packet.number, packet.time_ns, packet.wire_length);
}

void FlowTable::finish() {
  for (auto& flow : flows_) {
    for (auto& direction : flow->directions) direction->finish();
    if (flow->sent_syn[0] != flow->sent_syn[1]) {
      flow->client = flow->sent_syn[0] ? 0 : 1;
      flow->client_evidence = "SYN";
    } else if (flow->sent_syn_ack[0] != flow->sent_syn_ack[1]) {
      flow->client = flow->sent_syn_ack[0] ? 1 : 0;
      flow->client_evidence = "SYN-ACK";
    } else {
      // Mid-stream: servers listen on the lower, usually well-known, port.
      flow->client = flow->endpoints[0].port >= flow->endpoints[1].port ? 0 : 1;
      flow->client_evidence = "port numbers";
    }
  }
}

namespace {

Endpoint parse_endpoint(const std::string& text, const std::string& whole) {
  auto fail = [&] {
    throw InputError(fmt::format("flow '{}': expected address:port-address:port, e.g. 10.0.0.1:5000-10.0.0.2:80 "
                                 "or [::1]:5000-[::1]:80",
                                 whole));
  };
  Endpoint e;
  std::string address, port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find("]:");
    if (close == std::string::npos) fail();
    address = text.substr(1, close - 1);
    port = text.substr(close + 2);
    e.family = 6;
    if (inet_pton(AF_INET6, address.c_str(), e.address.data()) != 1) fail();
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) fail();
    address = text.substr(0, colon);
    port = text.substr(colon + 1);
    e.family = 4;
    if (inet_pton(AF_INET, address.c_str(), e.address.data()) != 1) fail();
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) fail();
  const unsigned long value = std::stoul(port);
  if (value > 65535) fail();
  e.port = uint16_t(value);
  return e;
}

}  // namespace

std::array<Endpoint, 2> parse_flow_tuple(const std::string& text) {
  // The separating '-' is the one followed by an address start, so IPv6 text is safe.
  for (size_t dash = text.find('-'); dash != std::string::npos; dash = text.find('-', dash + 1)) {
    if (dash + 1 < text.size() && (text[dash + 1] == '[' || std::isdigit(uint8_t(text[dash + 1])))) {
      return {parse_endpoint(text.substr(0, dash), text), parse_endpoint(text.substr(dash + 1), text)};
    }
  }
  throw InputError(fmt::format("flow '{}': expected address:port-address:port, e.g. 10.0.0.1:5000-10.0.0.2:80",
                               text));
}

}  // namespace rcvq
