#include "capture/capture_stream.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <filesystem>

#include "capture/capture_scan.hpp"
#include "capture/flow_table.hpp"
#include "common/errors.hpp"
#include "common/input_file.hpp"
#include "framing/detect.hpp"
#include "plan/plan_estimate.hpp"

namespace rcvq {
namespace {

class NullSink final : public StreamSink {
 public:
  void on_data(uint64_t, std::span<const uint8_t>, int64_t, uint64_t) override {}
  void on_gap(uint64_t, uint64_t, uint64_t) override {}
};

// Hands `direction`'s bytes to `selected` and every other direction's to `others`.
FlowTable::SinkFactory route_to(const CaptureDirection& direction, StreamSink* selected, StreamSink* others) {
  return [&direction, selected, others](const Flow& flow, int side) {
    return flow.id == direction.flow_id && side == direction.direction ? selected : others;
  };
}

FlowTableLimits limits_of(const CaptureSource& source) {
  FlowTableLimits limits;
  limits.max_flows = source.max_flows;
  limits.max_flows_name = "source.capture.max_flows";
  limits.reassembly.max_pending_bytes = source.max_pending_bytes;
  return limits;
}

}  // namespace

CaptureDirection select_capture_direction(const CaptureSource& source) {
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


namespace {

// How far frames chain from `at` inside `run` (no preamble).
struct Chain {
  uint64_t frames = 0;
  uint64_t end = 0;  // just past the last complete frame
  bool malformed = false;
};

// A frame claiming more than this cannot mark a boundary: the search would hold it.
constexpr uint64_t kMaxBoundaryFrameBytes = 64 << 20;

Chain walk_frames(const Framing& framing, std::span<const uint8_t> run, uint64_t at) {
  Chain chain{0, at, false};
  const uint32_t prefix = framing.prefix_size();
  while (chain.end + prefix <= run.size()) {
    const uint8_t* p = run.data() + chain.end;
    const uint64_t length = framing.frame_length(p);
    if (length == 0 || length > kMaxBoundaryFrameBytes || (framing.valid_prefix && !framing.valid_prefix(p))) {
      chain.malformed = true;
      break;
    }
    if (chain.end + length > run.size()) break;
    chain.end += length;
    ++chain.frames;
  }
  return chain;
}

// After a gap, a replay resumes at the first of this many offsets where frames chain
// to the end of the stretch, or at least three in a row.
constexpr uint64_t kBoundarySearchBytes = 1 << 16;
constexpr uint64_t kFramesThatMarkABoundary = 3;

std::string gap_text(const StreamGap& gap) {
  return fmt::format("gap of {} bytes at stream offset {}{}", gap.length, gap.offset,
                     gap.packet ? fmt::format(" (data resumes at packet {})", gap.packet) : " (at the end of the capture)");
}

Framing without_preamble(Framing framing) {
  framing.spec.preamble = 0;
  framing.preamble.clear();
  return framing;
}

}  // namespace

// Positions are offsets into the collected stream: the direction's delivered bytes in
// order, gaps closed up, as far as max_stream_bytes.
class CaptureKeptFrames::Reader final : public StreamSink {
 public:
  Reader(const Scenario& sc, const Framing& framing, const CaptureDirection& direction)
      : source_(sc.source.capture),
        framing_(framing),
        unframed_(without_preamble(framing)),
        direction_(direction),
        resync_(source_.on_gap == CaptureSource::OnGap::Resync),
        max_frame_bytes_(sc.run.max_memory_mb << 20),
        where_(fmt::format("{}: {}", source_.path, direction.label)),
        segments_(source_.path, source_.filter),
        table_(source_.path, limits_of(source_), route_to(direction_, this, &others_)),
        frame_start_(framing.spec.preamble) {}

  bool next() {
    while (ready_.empty()) {
      if (state_ == State::Done) return false;
      if (!read_packet()) {
        finish_table();
        end_run(true);
      }
    }
    current_ = ready_.front();
    ready_.pop_front();
    take_pieces();
    kept_bytes_ += current_.end - current_.begin;
    return true;
  }

  std::span<const uint8_t> bytes() const {
    return std::span(buffer_).subspan(size_t(current_.begin - buffer_begin_), size_t(current_.end - current_.begin));
  }
  const std::vector<KeptPiece>& pieces() const { return pieces_; }

  std::string description() {
    while (read_packet()) {
    }
    finish_table();
    const DirectionStats& st = table_.flows().at(direction_.flow_id)->directions[direction_.direction]->stats();
    std::vector<std::string> notes = std::move(notes_);
    if (capped_) notes.push_back(fmt::format("cut at max_stream_bytes {}", source_.max_stream_bytes));
    if (st.retransmitted_segments) notes.push_back(fmt::format("{} retransmitted segments", st.retransmitted_segments));
    if (st.conflicting_bytes)
      notes.push_back(fmt::format("{} overlapping bytes disagreed, first copy kept (first at packet {})",
                                  st.conflicting_bytes, st.first_conflict_packet));
    if (!st.syn) notes.push_back("no SYN: the capture starts mid-stream");
    return fmt::format("capture {}: {}, {} bytes in {} segments{}{}{}",
                       std::filesystem::path(source_.path).filename().string(), direction_.label, kept_bytes_,
                       kept_segments_, notes.empty() ? "" : "; ", fmt::join(notes, "; "),
                       trailing_ ? fmt::format(" ({} trailing bytes of an incomplete frame dropped)", trailing_) : "");
  }

  void on_data(uint64_t, std::span<const uint8_t> data, int64_t time_ns, uint64_t) override {
    if (state_ == State::Done) return;
    bool cap_reached = false;
    if (collected_ + data.size() > source_.max_stream_bytes) {
      data = data.first(size_t(source_.max_stream_bytes - collected_));
      cap_reached = true;
    }
    // A segment that waited for a hole to fill goes out once the hole is filled.
    if (segments_collected_) time_ns = std::max(time_ns, last_time_ns_);
    if (!data.empty()) last_time_ns_ = time_ns;
    if (!data.empty() && state_ == State::Dropping && ready_.empty()) {
      collected_ += data.size();
      ++segments_collected_;
      kept_from_ = buffer_begin_ = collected_;
      buffer_.clear();
      collected_pieces_.clear();
    } else if (!data.empty()) {
      buffer_.insert(buffer_.end(), data.begin(), data.end());
      collected_pieces_.push_back({collected_, uint32_t(data.size()), time_ns, segments_collected_++});
      collected_ += data.size();
      advance(false);
      release_consumed();
    }
    if (cap_reached) {
      capped_ = true;
      end_run(true);
    }
  }

  void on_gap(uint64_t offset, uint64_t length, uint64_t packet) override {
    if (state_ == State::Done) return;
    end_run(false);
    const StreamGap gap{offset, length, packet};
    if (!resync_) {
      notes_.push_back(fmt::format("stopped at the {}", gap_text(gap)));
      state_ = State::Done;
      return;
    }
    ++run_;
    frames_in_run_ = 0;
    search(collected_, gap_text(gap));
  }

 private:
  // Framing: frames follow on from frame_start_. Searching: for the boundary after a
  // gap (or a malformed prefix). Dropping: no boundary in the window, until the next
  // gap. Done: nothing more is kept.
  enum class State { Framing, Searching, Dropping, Done };
  struct Range {
    uint64_t begin = 0, end = 0;
  };
  struct CollectedPiece {
    uint64_t position = 0;
    uint32_t length = 0;
    int64_t time_ns = 0;
    uint64_t segment = 0;
  };

  bool read_packet() {
    TcpSegment segment;
    const CapturedPacket* packet = nullptr;
    if (file_read_ || !segments_.next(segment, packet)) {
      file_read_ = true;
      return false;
    }
    table_.add(segment, *packet);
    return true;
  }

  void finish_table() {
    if (table_finished_) return;
    table_finished_ = true;
    table_.finish();
  }

  const uint8_t* at(uint64_t position) const { return buffer_.data() + (position - buffer_begin_); }

  void advance(bool run_ended) {
    while (true) {
      if (state_ == State::Framing) {
        frame_on();
        if (state_ == State::Framing) return;
      } else if (state_ == State::Searching) {
        if (!decide_boundary(run_ended)) return;
      } else {
        return;
      }
    }
  }

  // Queues every frame the collected bytes complete.
  void frame_on() {
    const uint32_t prefix = framing_.prefix_size();
    while (frame_start_ + prefix <= collected_) {
      const uint8_t* p = at(frame_start_);
      const uint64_t length = framing_.frame_length(p);
      if (length == 0 || (framing_.valid_prefix && !framing_.valid_prefix(p))) {
        on_malformed_prefix();
        return;
      }
      // A frame is held whole until it is complete: one the run could not hold is refused
      // before it is read.
      if (length > max_frame_bytes_)
        throw InputError(fmt::format("{}: the '{}' frame at stream offset {} declares {} bytes, more than "
                                     "run.max_memory_mb {} can hold",
                                     where_, framing_.name, frame_start_, length, max_frame_bytes_ >> 20));
      if (frame_start_ + length > collected_) return;
      frame_start_ += length;
      ready_.push_back({kept_from_, frame_start_});
      kept_from_ = frame_start_;
      ++frames_in_run_;
    }
  }

  bool starts_mid_frame() const { return run_ == 0 && frames_in_run_ == 0; }

  std::string mid_frame_start(const std::string& problem) const {
    return fmt::format("{}: the stream does not start with a '{}' frame ({}); a capture that starts mid-frame needs "
                       "on_gap: resync",
                       where_, framing_.name, problem);
  }

  void on_malformed_prefix() {
    const std::string problem = fmt::format("malformed prefix at stream offset {}", frame_start_);
    if (starts_mid_frame()) {
      if (!resync_) throw InputError(mid_frame_start(problem));
      first_run_problem_ = problem;
      search(0, "");
      return;
    }
    if (!resync_)
      throw InputError(fmt::format("{}: {} (a '{}' frame was expected there); on_gap: resync resumes at the next "
                                   "frame boundary",
                                   where_, problem, framing_.name));
    search(frame_start_, problem);
  }

  // `after`: what the search resumes after, for the notes ("" at a mid-stream start).
  void search(uint64_t from, std::string after) {
    state_ = State::Searching;
    search_from_ = kept_from_ = frame_start_ = from;
    candidate_ = 0;
    search_after_ = std::move(after);
  }

  // Judges candidates in order while the collected bytes (or the run's end) decide
  // them; true once the search is over.
  bool decide_boundary(bool run_ended) {
    const uint64_t available = collected_ - search_from_;
    const auto stretch = std::span(at(search_from_), size_t(available));
    while (true) {
      if (candidate_ >= kBoundarySearchBytes || (run_ended && candidate_ >= available)) {
        no_boundary();
        return true;
      }
      if (candidate_ >= available) return false;
      const Chain chain = walk_frames(unframed_, stretch, candidate_);
      const bool decided = chain.malformed || chain.frames >= kFramesThatMarkABoundary || run_ended;
      if (!decided) return false;
      if (!chain.malformed && chain.frames > 0 && (chain.frames >= kFramesThatMarkABoundary || chain.end == available)) {
        resume_at(search_from_ + candidate_);
        return true;
      }
      ++candidate_;
    }
  }

  void resume_at(uint64_t position) {
    const uint64_t skipped = position - search_from_;
    notes_.push_back(search_after_.empty()
                         ? fmt::format("skipped {} bytes before the first frame boundary (mid-stream start)", skipped)
                         : fmt::format("resumed {} bytes after the {}", skipped, search_after_));
    state_ = State::Framing;
    kept_from_ = frame_start_ = position;
  }

  void no_boundary() {
    if (search_after_.empty())
      throw InputError(fmt::format("{}: no '{}' frame boundary found ({})", where_, framing_.name, first_run_problem_));
    state_ = State::Dropping;
    kept_from_ = frame_start_ = collected_;
  }

  // The stretch since the last gap ends: at a gap, or at the end of the stream.
  void end_run(bool stream_ended) {
    if (stream_ended && collected_ == 0) throw InputError(fmt::format("{}: carries no payload bytes", where_));
    advance(true);
    if (state_ == State::Framing && starts_mid_frame()) {
      first_run_problem_ = "no complete frame";
      if (!resync_) throw InputError(mid_frame_start(first_run_problem_));
      search(0, "");
      advance(true);
    }
    if (state_ == State::Framing && stream_ended) trailing_ = collected_ - kept_from_;
    if (state_ == State::Dropping)
      notes_.push_back(fmt::format("dropped {} bytes after the {}: no frame boundary found", collected_ - search_from_,
                                   search_after_));
    if (stream_ended) state_ = State::Done;
    // What the run left incomplete is never kept.
    kept_from_ = frame_start_ = collected_;
    release_consumed();
  }

  // The current frame's pieces, from the collected segments that overlap it.
  void take_pieces() {
    pieces_.clear();
    while (!collected_pieces_.empty()) {
      const CollectedPiece& c = collected_pieces_.front();
      const uint64_t end = c.position + c.length;
      if (c.position >= current_.end) break;
      if (end > current_.begin) {
        const uint64_t from = std::max(c.position, current_.begin), to = std::min(end, current_.end);
        pieces_.push_back({uint32_t(to - from), c.time_ns, c.segment});
        if (!has_kept_segment_ || c.segment != last_kept_segment_) ++kept_segments_;
        has_kept_segment_ = true;
        last_kept_segment_ = c.segment;
      }
      if (end > current_.end) break;
      collected_pieces_.pop_front();
    }
  }

  // Forgets what no frame can use any more, in large steps so each byte moves O(1) times.
  void release_consumed() {
    uint64_t needed = std::max(buffer_begin_, ready_.empty() ? kept_from_ : std::min(kept_from_, ready_.front().begin));
    while (!collected_pieces_.empty() &&
           collected_pieces_.front().position + collected_pieces_.front().length <= needed)
      collected_pieces_.pop_front();
    const uint64_t dead = needed - buffer_begin_;
    if (dead >= (64 << 10) && dead * 2 >= buffer_.size()) {
      buffer_.erase(buffer_.begin(), buffer_.begin() + long(dead));
      buffer_begin_ = needed;
    }
  }

  const CaptureSource& source_;
  const Framing& framing_;
  const Framing unframed_;
  const CaptureDirection direction_;
  const bool resync_;
  const uint64_t max_frame_bytes_;
  const std::string where_;
  TcpSegmentReader segments_;
  NullSink others_;
  FlowTable table_;
  bool file_read_ = false, table_finished_ = false;

  State state_ = State::Framing;
  uint64_t run_ = 0, frames_in_run_ = 0;
  uint64_t collected_ = 0;
  bool capped_ = false;
  uint64_t frame_start_;     // where the next frame's prefix starts
  uint64_t kept_from_ = 0;   // where the next kept range starts: the stream's start, then frame ends
  uint64_t search_from_ = 0, candidate_ = 0;  // Dropping: the stretch dropped starts at search_from_
  std::string search_after_, first_run_problem_;

  std::vector<uint8_t> buffer_;  // collected bytes from buffer_begin_ on
  uint64_t buffer_begin_ = 0;
  std::deque<CollectedPiece> collected_pieces_;
  uint64_t segments_collected_ = 0;
  int64_t last_time_ns_ = 0;
  std::deque<Range> ready_;  // kept frames not yet handed out
  Range current_;
  std::vector<KeptPiece> pieces_;

  uint64_t kept_bytes_ = 0, kept_segments_ = 0, trailing_ = 0;
  uint64_t last_kept_segment_ = 0;
  bool has_kept_segment_ = false;
  std::vector<std::string> notes_;
};

CaptureKeptFrames::CaptureKeptFrames(const Scenario& scenario, const Framing& framing,
                                     const CaptureDirection& direction)
    : reader_(std::make_unique<Reader>(scenario, framing, direction)) {}
CaptureKeptFrames::~CaptureKeptFrames() = default;
bool CaptureKeptFrames::next() { return reader_->next(); }
std::span<const uint8_t> CaptureKeptFrames::bytes() const { return reader_->bytes(); }
const std::vector<KeptPiece>& CaptureKeptFrames::pieces() const { return reader_->pieces(); }
std::string CaptureKeptFrames::description() { return reader_->description(); }

namespace {

// Feeds the selected direction, up to its first gap, to a framing resolver.
class FirstRunSink final : public StreamSink {
 public:
  explicit FirstRunSink(StreamFramingResolver& resolver) : resolver_(resolver) {}
  void on_data(uint64_t, std::span<const uint8_t> data, int64_t, uint64_t) override {
    if (!cut_) resolver_.feed(data);
  }
  void on_gap(uint64_t, uint64_t, uint64_t) override { cut_ = true; }

 private:
  StreamFramingResolver& resolver_;
  bool cut_ = false;
};

// A held stream's file bounds what it can hold: refused, with the figures, before the
// first packet is read.
void check_capture_reading(const Scenario& scenario) {
  const uint64_t file_bytes = regular_file_size(scenario.source.capture.path, "capture");
  check_plan_budget(scenario, estimate_capture_reading(scenario, file_bytes));
}

// The scenario's framing resolved against `direction`'s stream up to its first gap.
Framing resolve_framing_of(const Scenario& scenario, const CaptureDirection& direction) {
  const CaptureSource& source = scenario.source.capture;
  StreamFramingResolver resolver(scenario.framing);
  FirstRunSink first_run(resolver);
  NullSink others;
  FlowTable table(source.path, limits_of(source), route_to(direction, &first_run, &others));
  for_each_tcp_segment(source.path, source.filter, [&](const TcpSegment& s, const CapturedPacket& p) { table.add(s, p); });
  table.finish();
  return resolver.resolved(fmt::format("{}: {}", source.path, direction.label));
}

}  // namespace

Framing resolve_capture_framing(const Scenario& scenario) {
  return resolve_framing_of(scenario, select_capture_direction(scenario.source.capture));
}

SourceStream capture_stream(const Scenario& scenario) {
  check_capture_reading(scenario);
  const CaptureDirection direction = select_capture_direction(scenario.source.capture);
  const Framing framing = scenario.framing.needs_stream() ? resolve_framing_of(scenario, direction) : scenario.framing;
  CaptureKeptFrames frames(scenario, framing, direction);
  SourceStream out;
  uint64_t last_segment = 0;
  int64_t first_time = 0;
  while (frames.next()) {
    uint64_t offset = out.bytes.size();
    for (const KeptPiece& piece : frames.pieces()) {
      if (out.segments.empty()) first_time = piece.time_ns;
      if (!out.segments.empty() && piece.segment == last_segment)
        out.segments.back().length += piece.length;
      else
        out.segments.push_back({offset, piece.length, piece.time_ns - first_time});
      last_segment = piece.segment;
      offset += piece.length;
    }
    const std::span<const uint8_t> bytes = frames.bytes();
    out.bytes.insert(out.bytes.end(), bytes.begin(), bytes.end());
  }
  out.description = frames.description();
  return out;
}

}  // namespace rcvq
