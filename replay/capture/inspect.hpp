#pragma once
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "capture/capture_scan.hpp"
#include "capture/flow_table.hpp"
#include "framing/detect.hpp"

namespace rcvq {

struct InspectOptions {
  std::string path;
  std::string filter;   // libpcap expression
  std::string framing = "auto";  // a preset name or auto
  bool json = false;
  uint64_t max_flows = 100'000;
  uint64_t max_pending_bytes = 64ULL << 20;
};

// One direction of a flow: its TCP numbers and what the framing makes of its stream.
struct DirectionReport {
  Endpoint from, to;
  DirectionStats tcp;
  std::string framing;          // the preset that frames it, or "" when none does
  bool framing_complete = false;  // up to the first gap when there is one
  std::vector<std::string> also_complete;
  std::string framing_note;     // why none fits, where a gap stopped framing
  FramingStats frames;          // valid when framing is not empty
};

struct FlowReport {
  uint64_t id = 0;
  Endpoint client, server;
  std::string client_evidence;
  bool handshake = false;
  std::array<DirectionReport, 2> directions;  // [0] client to server, [1] server to client
};

struct InspectReport {
  std::string path;
  std::string link_type;
  DecodeCounts counts;
  std::vector<FlowReport> flows;
};

// Reads the whole capture once with memory bounded per flow. Throws InputError.
InspectReport inspect_capture(const InspectOptions& options);
nlohmann::json to_json(const InspectReport& report);
void print_inspect(std::ostream& out, const InspectReport& report);

// `rcvqbench inspect`: prints the report; exit code 2 with a message on bad input.
int run_inspect_command(const InspectOptions& options);

}  // namespace rcvq
