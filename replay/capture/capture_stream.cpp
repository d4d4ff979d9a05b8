#include "capture/capture_stream.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "capture/capture_scan.hpp"
#include "capture/flow_table.hpp"
#include "common/errors.hpp"
#include "common/input_file.hpp"
#include "plan/plan_estimate.hpp"
#include "framing/detect.hpp"

namespace rcvq {
namespace {

class NullSink final : public StreamSink {
 public:
  void on_data(uint64_t, std::span<const uint8_t>, int64_t, uint64_t) override {}
  void on_gap(uint64_t, uint64_t, uint64_t) override {}
};

// A stretch of the collected stream between two gaps.
struct Run {
  uint64_t begin = 0, end = 0;
  StreamGap gap_before;  // length 0 for the first run
};

// Keeps one direction's bytes and segments, split into runs at every gap.
class CollectingSink final : public StreamSink {
 public:
  explicit CollectingSink(uint64_t max_bytes) : max_bytes_(max_bytes) { runs.push_back({}); }

  void on_data(uint64_t, std::span<const uint8_t> data, int64_t time_ns, uint64_t) override {
    if (capped) return;
    if (bytes.size() + data.size() > max_bytes_) {
      data = data.first(size_t(max_bytes_ - bytes.size()));
      capped = true;
    }
    if (data.empty()) return;
    // A segment that waited for a hole to fill goes out once the hole is filled.
    time_ns = segments.empty() ? time_ns : std::max(time_ns, segments.back().time_ns);
    segments.push_back({bytes.size(), uint32_t(data.size()), time_ns});
    bytes.insert(bytes.end(), data.begin(), data.end());
    runs.back().end = bytes.size();
  }
  void on_gap(uint64_t offset, uint64_t length, uint64_t packet) override {
    if (capped) return;
    runs.push_back({bytes.size(), bytes.size(), {offset, length, packet}});
  }

  std::vector<uint8_t> bytes;
  std::vector<SourceSegment> segments;  // absolute capture times until finished
  std::vector<Run> runs;
  bool capped = false;

 private:
  uint64_t max_bytes_;
};

struct SelectedDirection {
  uint64_t flow_id = 0;
  int direction = 0;
  std::string label;  // "10.0.0.1:5000 -> 10.0.0.2:80 (client-to-server, client by SYN)"
};

FlowTableLimits limits_of(const CaptureSource& source) {
  FlowTableLimits limits;
  limits.max_flows = source.max_flows;
  limits.max_flows_name = "source.capture.max_flows";
  limits.reassembly.max_pending_bytes = source.max_pending_bytes;
  return limits;
}

// Pass 1: every flow's size, then the scenario's choice of flow and direction.
SelectedDirection select_direction(const CaptureSource& source) {
  NullSink null_sink;
  FlowTable table(source.path, limits_of(source), [&](const Flow&, int) { return &null_sink; });
  const DecodeCounts counts =
      for_each_tcp_segment(source.path, source.filter, [&](const TcpSegment& s, const CapturedPacket& p) { table.add(s, p); });
  table.finish();
  const std::string scope = source.filter.empty() ? "" : fmt::format(" matching filter '{}'", source.filter);
  if (table.flows().empty())
    throw InputError(fmt::format("{}: no TCP flow{} among {} packets{}", source.path, scope, counts.packets,
                                 counts.unsupported_link ? fmt::format(" ({})", counts.warnings.front()) : ""));
  const Flow* chosen = nullptr;
  if (!source.flow.empty()) {
    const auto ends = parse_flow_tuple(source.flow);
    const FlowKey wanted = FlowKey::of(ends[0], ends[1]);
    for (const auto& flow : table.flows())
      if (FlowKey::of(flow->endpoints[0], flow->endpoints[1]) == wanted) chosen = flow.get();
    if (!chosen)
      throw InputError(fmt::format("{}: no TCP flow {}{}", source.path, source.flow, scope));
  } else {
    std::vector<const Flow*> by_size;
    for (const auto& flow : table.flows()) by_size.push_back(flow.get());
    std::stable_sort(by_size.begin(), by_size.end(), [](const Flow* a, const Flow* b) {
      return a->stream_bytes(0) + a->stream_bytes(1) > b->stream_bytes(0) + b->stream_bytes(1);
    });
    if (source.largest > by_size.size())
      throw InputError(fmt::format("{}: largest: {} asks for more than the {} TCP flows{}", source.path,
                                   source.largest, by_size.size(), scope));
    chosen = by_size[source.largest - 1];
  }
  const int client = chosen->client;
  int direction = client;
  std::string which = "client-to-server";
  switch (source.direction) {
    case FlowDirection::ClientToServer: break;
    case FlowDirection::ServerToClient:
      direction = 1 - client;
      which = "server-to-client";
      break;
    case FlowDirection::Larger:
      if (chosen->stream_bytes(1 - client) > chosen->stream_bytes(client)) {
        direction = 1 - client;
        which = "server-to-client";
      }
      which += ", the larger direction";
      break;
  }
  return {chosen->id, direction,
          fmt::format("{} -> {} ({}, client by {})", chosen->endpoints[direction].to_string(),
                      chosen->endpoints[1 - direction].to_string(), which, chosen->client_evidence)};
}

struct Extracted {
  CollectingSink sink;
  SelectedDirection selected;
  DirectionStats stats;
  explicit Extracted(uint64_t max_bytes) : sink(max_bytes) {}
};

// Pass 2: the selected direction's bytes, segments and gaps.
std::unique_ptr<Extracted> extract(const CaptureSource& source) {
  auto out = std::make_unique<Extracted>(source.max_stream_bytes);
  out->selected = select_direction(source);
  NullSink null_sink;
  FlowTable table(source.path, limits_of(source), [&](const Flow& flow, int direction) -> StreamSink* {
    if (flow.id == out->selected.flow_id && direction == out->selected.direction) return &out->sink;
    return &null_sink;
  });
  for_each_tcp_segment(source.path, source.filter, [&](const TcpSegment& s, const CapturedPacket& p) { table.add(s, p); });
  table.finish();
  out->stats = table.flows().at(out->selected.flow_id)->directions[out->selected.direction]->stats();
  if (out->sink.bytes.empty())
    throw InputError(fmt::format("{}: {} carries no payload bytes", source.path, out->selected.label));
  return out;
}

// How far frames chain from `at` inside `run` (no preamble).
struct Chain {
  uint64_t frames = 0;
  uint64_t end = 0;  // just past the last complete frame
  bool malformed = false;
};

Chain walk_frames(const Framing& framing, std::span<const uint8_t> run, uint64_t at) {
  Chain chain{0, at, false};
  const uint32_t prefix = framing.prefix_size();
  while (chain.end + prefix <= run.size()) {
    const uint8_t* p = run.data() + chain.end;
    const uint64_t length = framing.frame_length(p);
    if (length == 0 || (framing.valid_prefix && !framing.valid_prefix(p))) {
      chain.malformed = true;
      break;
    }
    if (chain.end + length > run.size()) break;
    chain.end += length;
    ++chain.frames;
  }
  return chain;
}

// The first offset of `run` where frames chain to its end, or at least three in a row:
// where a replay can resume after a gap. nullopt when none within the search window.
struct Boundary {
  uint64_t start = 0;
  Chain chain;
};

std::optional<Boundary> find_frame_boundary(const Framing& framing, std::span<const uint8_t> run) {
  constexpr uint64_t kSearchWindow = 1 << 16;
  Framing unframed = framing;
  unframed.spec.preamble = 0;
  unframed.preamble.clear();
  const uint64_t limit = std::min<uint64_t>(run.size(), kSearchWindow);
  for (uint64_t at = 0; at < limit; ++at) {
    const Chain chain = walk_frames(unframed, run, at);
    if (chain.malformed || chain.frames == 0) continue;
    if (chain.end == run.size() || chain.frames >= 3) return Boundary{at, chain};
  }
  return std::nullopt;
}

std::string gap_text(const Run& run) {
  return fmt::format("gap of {} bytes at stream offset {}{}", run.gap_before.length, run.gap_before.offset,
                     run.gap_before.packet ? fmt::format(" (data resumes at packet {})", run.gap_before.packet)
                                           : " (at the end of the capture)");
}

struct KeptRange {
  uint64_t begin, end;
};

// The file bounds what reading it can hold: refused, with the figures, before the
// first packet is read.
void check_capture_reading(const Scenario& scenario) {
  const uint64_t file_bytes = regular_file_size(scenario.source.capture.path, "capture");
  check_plan_budget(scenario, estimate_capture_reading(scenario, file_bytes));
}

}  // namespace

Framing resolve_capture_framing(const Scenario& scenario) {
  const CaptureSource& source = scenario.source.capture;
  check_capture_reading(scenario);
  auto extracted = extract(source);
  const Run& first = extracted->sink.runs.front();
  const auto stream = std::span<const uint8_t>(extracted->sink.bytes).subspan(first.begin, first.end - first.begin);
  return resolve_framing(scenario.framing, stream, fmt::format("{}: {}", source.path, extracted->selected.label));
}

SourceStream capture_stream(const Scenario& scenario) {
  const CaptureSource& source = scenario.source.capture;
  check_capture_reading(scenario);
  auto extracted = extract(source);
  CollectingSink& sink = extracted->sink;
  const std::string where = fmt::format("{}: {}", source.path, extracted->selected.label);
  const Run& first = sink.runs.front();
  const auto first_run = std::span<const uint8_t>(sink.bytes).subspan(first.begin, first.end - first.begin);
  const Framing framing = scenario.framing.needs_stream() ? resolve_framing(scenario.framing, first_run, where)
                                                          : scenario.framing;
  const bool resync = source.on_gap == CaptureSource::OnGap::Resync;
  std::vector<std::string> notes;
  std::vector<KeptRange> kept;

  // Where each run's kept part ends: a run followed by a gap ends at its last complete
  // frame, so the next run's frames follow on directly.
  auto kept_end = [&](size_t index, uint64_t start, uint64_t last_frame_end) {
    const Run& run = sink.runs[index];
    return index + 1 == sink.runs.size() ? run.end : run.begin + std::max(start, last_frame_end);
  };

  // The first run frames from its start (after the preamble), unless the capture
  // started mid-frame and the scenario lets the replay resume at a boundary.
  FrameScanner scanner(framing);
  std::vector<uint64_t> ends;
  scanner.feed(first_run, ends);
  if (!scanner.malformed() && !ends.empty()) {
    kept.push_back({first.begin, kept_end(0, 0, ends.back())});
  } else {
    const std::string problem = scanner.malformed()
                                    ? fmt::format("malformed prefix at stream offset {}", scanner.malformed_at())
                                    : "no complete frame";
    if (!resync)
      throw InputError(fmt::format("{}: the stream does not start with a '{}' frame ({}); a capture that starts "
                                   "mid-frame needs on_gap: resync",
                                   where, framing.name, problem));
    auto boundary = find_frame_boundary(framing, first_run);
    if (!boundary)
      throw InputError(fmt::format("{}: no '{}' frame boundary found ({})", where, framing.name, problem));
    kept.push_back({first.begin + boundary->start, kept_end(0, boundary->start, boundary->chain.end)});
    notes.push_back(fmt::format("skipped {} bytes before the first frame boundary (mid-stream start)", boundary->start));
  }

  for (size_t i = 1; i < sink.runs.size(); ++i) {
    const Run& run = sink.runs[i];
    if (!resync) {
      notes.push_back(fmt::format("stopped at the {}", gap_text(run)));
      break;
    }
    const auto bytes = std::span<const uint8_t>(sink.bytes).subspan(run.begin, run.end - run.begin);
    auto boundary = find_frame_boundary(framing, bytes);
    if (!boundary) {
      notes.push_back(fmt::format("dropped {} bytes after the {}: no frame boundary found", bytes.size(), gap_text(run)));
      continue;
    }
    kept.push_back({run.begin + boundary->start, kept_end(i, boundary->start, boundary->chain.end)});
    notes.push_back(fmt::format("resumed {} bytes after the {}", boundary->start, gap_text(run)));
  }
  if (sink.capped) notes.push_back(fmt::format("cut at max_stream_bytes {}", source.max_stream_bytes));

  SourceStream out;
  int64_t first_time = -1;
  size_t k = 0;
  for (const KeptRange& range : kept) {
    const uint64_t shift = out.bytes.size();
    out.bytes.insert(out.bytes.end(), sink.bytes.begin() + range.begin, sink.bytes.begin() + range.end);
    while (k < sink.segments.size() && sink.segments[k].offset + sink.segments[k].length <= range.begin) ++k;
    for (size_t j = k; j < sink.segments.size() && sink.segments[j].offset < range.end; ++j) {
      const SourceSegment& s = sink.segments[j];
      const uint64_t from = std::max(s.offset, range.begin), to = std::min(s.offset + s.length, range.end);
      if (first_time < 0) first_time = s.time_ns;
      out.segments.push_back({shift + from - range.begin, uint32_t(to - from), s.time_ns - first_time});
    }
  }
  const DirectionStats& st = extracted->stats;
  if (st.retransmitted_segments) notes.push_back(fmt::format("{} retransmitted segments", st.retransmitted_segments));
  if (st.conflicting_bytes)
    notes.push_back(fmt::format("{} overlapping bytes disagreed, first copy kept (first at packet {})", st.conflicting_bytes,
                                st.first_conflict_packet));
  if (!st.syn) notes.push_back("no SYN: the capture starts mid-stream");
  out.description = fmt::format("capture {}: {}, {} bytes in {} segments{}{}",
                                std::filesystem::path(source.path).filename().string(), extracted->selected.label,
                                out.bytes.size(), out.segments.size(), notes.empty() ? "" : "; ",
                                fmt::join(notes, "; "));
  return out;
}

}  // namespace rcvq
