#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

namespace rcvq {

// Progress of a run on stderr. On a terminal: one line per mode and repetition,
// redrawn in place while the repetition runs (frames due by the plan's schedule,
// frames received, rate, ETA). Elsewhere (logs, pipes): one plain line when each
// repetition ends. Quiet: nothing.
class ProgressReporter {
 public:
  enum class Style { kQuiet, kPlain, kTerminal };
  // kTerminal when `out` is a TTY, else kPlain; kQuiet when `quiet`.
  static Style style_for(FILE* out, bool quiet);

  explicit ProgressReporter(Style style, FILE* out = stderr);
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // One repetition of one mode begins (1-based `repetition`).
  void begin(const std::string& mode, uint32_t repetition, uint32_t repetitions);
  // Its `frames_total` frames are scheduled over [start_ns, start_ns + duration_ns];
  // the receiver stores its count in frames_received(). Starts the redraws.
  void schedule(uint64_t frames_total, int64_t start_ns, int64_t duration_ns);
  std::atomic<uint64_t>& frames_received() { return frames_received_; }
  void finished(uint64_t measured_frames, double wakeups_per_frame, bool integrity_ok);
  void failed(const std::string& why);

  // The line a terminal shows at `now_ns` (exposed for tests).
  std::string status_line(int64_t now_ns) const;

 private:
  void stop_ticker();
  void print_final(const std::string& tail);

  Style style_;
  FILE* out_;
  std::string mode_;
  uint32_t repetition_ = 0, repetitions_ = 0;
  uint64_t frames_total_ = 0;
  int64_t start_ns_ = 0, duration_ns_ = 0, begun_ns_ = 0;
  std::atomic<uint64_t> frames_received_{0};

  std::mutex mutex_;
  std::condition_variable wake_;
  bool ticking_ = false;
  bool line_open_ = false;  // a redrawn line awaits its newline
  std::thread ticker_;
};

}  // namespace rcvq
