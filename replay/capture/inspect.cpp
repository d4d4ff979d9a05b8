#include "capture/inspect.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <iostream>

#include "common/errors.hpp"

namespace rcvq {
namespace {

// Frames one direction as its bytes arrive: every preset at once for auto, else the
// named one. Framing stops at the first gap (frames after it cannot be trusted).
// The detector (a trial per preset) is made on the first payload byte: a capture of
// many handshake-only flows would otherwise hold one per direction for nothing.
class FramingSink final : public StreamSink {
 public:
  explicit FramingSink(const std::string& framing) : framing_(framing) {}

  void on_data(uint64_t, std::span<const uint8_t> bytes, int64_t, uint64_t) override {
    if (stopped_) return;
    make_framer();
    if (detector_) detector_->feed_segment(bytes);
    else trial_->feed_segment(bytes);
  }
  void on_gap(uint64_t offset, uint64_t length, uint64_t packet) override {
    if (stopped_) return;
    stopped_ = true;
    gap_note_ = fmt::format("framed up to the {}-byte gap at stream offset {}{}", length, offset,
                            packet ? fmt::format(" (packet {})", packet) : "");
  }

  void report(DirectionReport& out) {
    if (out.tcp.stream_bytes == 0) {
      out.framing_note = "no payload";
      return;
    }
    make_framer();
    const FramingTrial* chosen = nullptr;
    if (detector_) {
      detector_->finish();
      const FramingDetector::Verdict verdict = detector_->verdict(stopped_);
      chosen = verdict.winner;
      out.also_complete = verdict.also_complete;
      if (!chosen) out.framing_note = verdict.explanation;
    } else {
      trial_->finish();
      chosen = trial_.get();
      if (trial_->failed()) out.framing_note = trial_->failure();
      else if (trial_->stats().trailing_bytes)
        out.framing_note = fmt::format("{} bytes left in an incomplete frame", trial_->stats().trailing_bytes);
    }
    if (chosen) {
      out.framing = chosen->candidate().name;
      out.framing_complete = chosen->complete(stopped_);
      out.frames = chosen->stats();
    }
    if (!gap_note_.empty()) out.framing_note = out.framing_note.empty() ? gap_note_ : gap_note_ + "; " + out.framing_note;
  }

 private:
  void make_framer() {
    if (detector_ || trial_) return;
    if (framing_ == "auto") detector_ = std::make_unique<FramingDetector>();
    else trial_ = std::make_unique<FramingTrial>(framing_preset(framing_), 0);
  }

  std::string framing_;
  std::unique_ptr<FramingDetector> detector_;
  std::unique_ptr<FramingTrial> trial_;
  bool stopped_ = false;
  std::string gap_note_;
};

nlohmann::json direction_json(const DirectionReport& d) {
  const DirectionStats& t = d.tcp;
  nlohmann::json gaps = nlohmann::json::array();
  for (const StreamGap& g : t.gaps) gaps.push_back({{"offset", g.offset}, {"length", g.length}, {"packet", g.packet}});
  nlohmann::json framing = nullptr;
  if (!d.framing.empty()) {
    const FramingStats& f = d.frames;
    nlohmann::json histogram = nlohmann::json::object();
    for (const auto& [segments, frames] : f.segments_per_frame) histogram[std::to_string(segments)] = frames;
    framing = {{"name", d.framing},
               {"complete", d.framing_complete},
               {"also_complete", d.also_complete},
               {"preamble_bytes", f.preamble_bytes},
               {"frames", f.frames},
               {"framed_bytes", f.framed_bytes},
               {"trailing_bytes", f.trailing_bytes},
               {"largest_frame", f.largest_frame},
               {"frames_spanning_segments", f.frames_spanning_segments},
               {"multi_frame_segments", f.multi_frame_segments},
               {"segments_per_frame", histogram}};
  }
  return {{"from", d.from.to_string()},
          {"to", d.to.to_string()},
          {"packets", t.packets},
          {"frame_bytes", t.frame_bytes},
          {"segments", t.data_segments},
          {"payload_bytes", t.payload_bytes},
          {"stream_bytes", t.stream_bytes},
          {"retransmitted_segments", t.retransmitted_segments},
          {"retransmitted_bytes", t.retransmitted_bytes},
          {"out_of_order_segments", t.out_of_order_segments},
          {"conflicting_bytes", t.conflicting_bytes},
          {"unchecked_overlap_bytes", t.unchecked_overlap_bytes},
          {"truncated_segments", t.truncated_segments},
          {"bytes_before_start", t.bytes_before_start},
          {"gap_count", t.gap_count},
          {"gap_bytes", t.gap_bytes},
          {"gaps", gaps},
          {"syn", t.syn},
          {"fin", t.fin},
          {"rst", t.rst},
          {"framing", framing},
          {"framing_note", d.framing_note}};
}

std::string histogram_text(const FramingStats& f) {
  std::vector<std::string> cells;
  for (const auto& [segments, frames] : f.segments_per_frame) cells.push_back(fmt::format("{}:{}", segments, frames));
  return fmt::format("{}", fmt::join(cells, " "));
}

}  // namespace

InspectReport inspect_capture(const InspectOptions& options) {
  if (options.framing != "auto") framing_preset(options.framing);  // rejects unknown names early
  std::vector<std::unique_ptr<FramingSink>> sinks;
  FlowTableLimits limits;
  limits.max_flows = options.max_flows;
  limits.reassembly.max_pending_bytes = options.max_pending_bytes;
  limits.max_flows_name = "--max-flows";
  FlowTable table(options.path, limits, [&](const Flow&, int) {
    sinks.push_back(std::make_unique<FramingSink>(options.framing));
    return sinks.back().get();
  });
  InspectReport report;
  report.path = options.path;
  report.counts = for_each_tcp_segment(options.path, options.filter,
                                       [&](const TcpSegment& s, const CapturedPacket& p) { table.add(s, p); });
  table.finish();
  report.link_type = link_type_name(report.counts.linktype);
  for (const auto& flow : table.flows()) {
    FlowReport f;
    f.id = flow->id;
    f.client = flow->endpoints[flow->client];
    f.server = flow->endpoints[1 - flow->client];
    f.client_evidence = flow->client_evidence;
    f.handshake = flow->handshake_seen();
    for (int side = 0; side < 2; ++side) {
      const int direction = side == 0 ? flow->client : 1 - flow->client;
      DirectionReport& d = f.directions[side];
      d.from = flow->endpoints[direction];
      d.to = flow->endpoints[1 - direction];
      d.tcp = flow->directions[direction]->stats();
      sinks[2 * flow->id + direction]->report(d);
    }
    report.flows.push_back(std::move(f));
  }
  return report;
}

nlohmann::json to_json(const InspectReport& report) {
  const DecodeCounts& c = report.counts;
  nlohmann::json flows = nlohmann::json::array();
  for (const FlowReport& f : report.flows)
    flows.push_back({{"id", f.id},
                     {"client", f.client.to_string()},
                     {"server", f.server.to_string()},
                     {"client_evidence", f.client_evidence},
                     {"handshake", f.handshake},
                     {"client_to_server", direction_json(f.directions[0])},
                     {"server_to_client", direction_json(f.directions[1])}});
  return {{"file", report.path},
          {"link_type", report.link_type},
          {"packets", c.packets},
          {"filtered_out", c.filtered_out},
          {"tcp_packets", c.tcp},
          {"not_ip", c.not_ip},
          {"not_tcp", c.not_tcp},
          {"fragments", c.fragments},
          {"truncated_headers", c.truncated},
          {"malformed", c.malformed},
          {"unsupported_link", c.unsupported_link},
          {"caplen_above_wire", c.caplen_above_wire},
          {"warnings", c.warnings},
          {"flows", flows}};
}

void print_inspect(std::ostream& out, const InspectReport& report) {
  const DecodeCounts& c = report.counts;
  fmt::print(out, "{} ({}): {} packets, {} TCP, {} flows", report.path, report.link_type, c.packets, c.tcp,
             report.flows.size());
  if (c.filtered_out) fmt::print(out, ", {} filtered out", c.filtered_out);
  if (c.not_tcp) fmt::print(out, ", {} not TCP", c.not_tcp);
  if (c.fragments) fmt::print(out, ", {} IP fragments (not reassembled)", c.fragments);
  if (c.truncated || c.malformed) fmt::print(out, ", {} truncated and {} malformed headers", c.truncated, c.malformed);
  fmt::print(out, "\n");
  for (const std::string& w : c.warnings) fmt::print(out, "  warning: {}\n", w);
  for (const FlowReport& f : report.flows) {
    fmt::print(out, "\nflow {}  {} -> {}  handshake {}, client by {}\n", f.id, f.client.to_string(), f.server.to_string(),
               f.handshake ? "seen" : "not seen (mid-stream)", f.client_evidence);
    fmt::print(out, "  {:<17} {:>8} {:>9} {:>11} {:>7} {:>5} {:>5}  {:<14} {:>7} {:>7} {:>7}  {}\n", "direction", "packets",
               "segments", "stream B", "retrans", "ooo", "gaps", "framing", "frames", "span>1", "multi", "segments/frame");
    for (int side = 0; side < 2; ++side) {
      const DirectionReport& d = f.directions[side];
      const DirectionStats& t = d.tcp;
      const bool framed = !d.framing.empty();
      fmt::print(out, "  {:<17} {:>8} {:>9} {:>11} {:>7} {:>5} {:>5}  {:<14} {:>7} {:>7} {:>7}  {}\n",
                 side == 0 ? "client->server" : "server->client", t.packets, t.data_segments, t.stream_bytes,
                 t.retransmitted_segments, t.out_of_order_segments, t.gap_count,
                 framed ? d.framing + (d.framing_complete ? "" : "?") : "-", framed ? std::to_string(d.frames.frames) : "-",
                 framed ? std::to_string(d.frames.frames_spanning_segments) : "-",
                 framed ? std::to_string(d.frames.multi_frame_segments) : "-", framed ? histogram_text(d.frames) : "");
      for (const StreamGap& g : t.gaps)
        fmt::print(out, "    gap: {} bytes at stream offset {}{}\n", g.length, g.offset,
                   g.packet ? fmt::format(", data resumes at packet {}", g.packet) : ", to the end of the capture");
      if (t.conflicting_bytes)
        fmt::print(out, "    overlap: {} bytes disagreed with the first copy (first at packet {})\n", t.conflicting_bytes,
                   t.first_conflict_packet);
      if (t.truncated_segments)
        fmt::print(out, "    snaplen: {} segments lost payload bytes (first at packet {})\n", t.truncated_segments,
                   t.first_truncated_packet);
      if (framed && d.frames.preamble_bytes) fmt::print(out, "    preamble: {} bytes\n", d.frames.preamble_bytes);
      if (!d.also_complete.empty()) fmt::print(out, "    also frames it: {}\n", fmt::join(d.also_complete, ", "));
      if (!d.framing_note.empty() && t.stream_bytes) fmt::print(out, "    framing: {}\n", d.framing_note);
    }
  }
}

int run_inspect_command(const InspectOptions& options) {
  try {
    const InspectReport report = inspect_capture(options);
    if (options.json) std::cout << to_json(report).dump(2) << "\n";
    else print_inspect(std::cout, report);
    return kExitOk;
  } catch (const InputError& e) {
    fmt::print(stderr, "rcvqbench inspect: {}\n", e.what());
    return kExitBadInput;
  }
}

}  // namespace rcvq
