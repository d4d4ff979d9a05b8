#include "report/progress.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "common/clock.hpp"

namespace rcvq {
namespace {
constexpr auto kRedrawInterval = std::chrono::milliseconds(200);
}

ProgressReporter::Style ProgressReporter::style_for(FILE* out, bool quiet) {
  if (quiet) return Style::kQuiet;
  return isatty(fileno(out)) ? Style::kTerminal : Style::kPlain;
}

ProgressReporter::ProgressReporter(Style style, FILE* out) : style_(style), out_(out) {}

ProgressReporter::~ProgressReporter() {
  stop_ticker();
  if (line_open_) std::fputc('\n', out_);  // interrupted mid-repetition
}

void ProgressReporter::begin(const std::string& mode, uint32_t repetition, uint32_t repetitions) {
  stop_ticker();
  mode_ = mode;
  repetition_ = repetition;
  repetitions_ = repetitions;
  frames_total_ = 0;
  start_ns_ = duration_ns_ = 0;
  begun_ns_ = monotonic_ns();
  frames_received_.store(0, std::memory_order_relaxed);
}

void ProgressReporter::schedule(uint64_t frames_total, int64_t start_ns, int64_t duration_ns) {
  stop_ticker();
  frames_total_ = frames_total;
  start_ns_ = start_ns;
  duration_ns_ = duration_ns;
  if (style_ != Style::kTerminal) return;
  ticking_ = true;
  line_open_ = true;
  ticker_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (ticking_) {
      fmt::print(out_, "\r{}\x1b[K", status_line(monotonic_ns()));
      std::fflush(out_);
      wake_.wait_for(lock, kRedrawInterval, [this] { return !ticking_; });
    }
  });
}

std::string ProgressReporter::status_line(int64_t now_ns) const {
  const uint64_t received = std::min(frames_received_.load(std::memory_order_relaxed), frames_total_);
  // The sender paces to the plan, so the schedule says how many frames are out.
  uint64_t due = frames_total_;
  if (duration_ns_ > 0 && now_ns < start_ns_ + duration_ns_)
    due = now_ns <= start_ns_ ? 0
                              : uint64_t(double(frames_total_) * double(now_ns - start_ns_) / double(duration_ns_));
  const double elapsed_s = double(now_ns - start_ns_) / 1e9;
  const double rate = elapsed_s > 0 ? double(received) / elapsed_s : 0;
  const double schedule_left_s = std::max(0.0, double(start_ns_ + duration_ns_ - now_ns) / 1e9);
  const double receive_left_s = rate > 0 ? double(frames_total_ - received) / rate : schedule_left_s;
  // Nothing received and nothing left to send: no basis for an estimate.
  const std::string eta = rate == 0 && schedule_left_s == 0 && received < frames_total_
                              ? "ETA ?"
                              : fmt::format("ETA {:.1f} s", std::max(schedule_left_s, received >= frames_total_
                                                                                          ? 0.0
                                                                                          : receive_left_s));
  return fmt::format("[{}/{}] {:<16} {:>7}/{} frames received ({} due)  {:8.1f} frames/s  {}", repetition_,
                     repetitions_, mode_, received, frames_total_, due, rate, eta);
}

void ProgressReporter::stop_ticker() {
  {
    std::lock_guard lock(mutex_);
    ticking_ = false;
  }
  wake_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

void ProgressReporter::print_final(const std::string& tail) {
  stop_ticker();
  if (style_ == Style::kQuiet) return;
  line_open_ = false;
  const double seconds = double(monotonic_ns() - begun_ns_) / 1e9;
  fmt::print(out_, "{}[{}/{}] {:<16} {} ({:.1f} s)\n", style_ == Style::kTerminal ? "\r\x1b[K" : "", repetition_,
             repetitions_, mode_, tail, seconds);
  std::fflush(out_);
}

void ProgressReporter::finished(uint64_t measured_frames, double wakeups_per_frame, bool integrity_ok) {
  print_final(fmt::format("{} frames, {:.2f} wakeups/frame, integrity {}", measured_frames, wakeups_per_frame,
                          integrity_ok ? "ok" : "MISMATCH"));
}

void ProgressReporter::failed(const std::string& why) { print_final("failed: " + why); }

}  // namespace rcvq
