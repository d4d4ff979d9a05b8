#include "results/writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <ostream>
#include <sstream>

#include "common/errors.hpp"

namespace rcvq {

using json = nlohmann::json;

std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H-%M-%SZ", &tm);
  return buf;
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno("create " + tmp);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fd);
      throw_errno("write " + tmp);
    }
    done += size_t(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) throw_errno("sync " + tmp);
  if (rename(tmp.c_str(), path.c_str()) != 0) throw_errno("rename to " + path);
}

std::string create_run_directory(const std::string& root, const std::string& scenario_name,
                                 const std::string& started_utc) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(root) / scenario_name / started_utc;
  for (int n = 1; fs::exists(dir); ++n)  // two runs in the same second
    dir = fs::path(root) / scenario_name / fmt::format("{}.{}", started_utc, n);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw RunError(fmt::format("cannot create results directory {}: {}", dir.string(), ec.message()));
  return dir.string();
}

void write_results_into(const std::string& dir, const RunResult& run) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw RunError(fmt::format("cannot create results directory {}: {}", dir, ec.message()));
  for (const ModeResult& m : run.modes) {
    if (m.repetitions.empty()) continue;
    Histogram pooled;
    for (const ModeRepetition& r : m.repetitions) pooled.merge(r.latency);
    std::ostringstream hgrm;
    pooled.write_hgrm(hgrm, 1000.0);  // microseconds, as HdrHistogram's plotter expects a scaled unit
    write_file_atomic((fs::path(dir) / (m.mode + ".hgrm")).string(), hgrm.str());
  }
  write_file_atomic((fs::path(dir) / "run.json").string(), to_json(run).dump(2) + "\n");
}

std::string write_results(const std::string& root, const RunResult& run, const std::string& scenario_name) {
  const std::string dir = create_run_directory(root, scenario_name, run.started_utc);
  write_results_into(dir, run);
  return dir;
}

namespace {

std::string cell(const json& v, int precision = 2) {
  if (!v.is_number()) return "n/a";
  return fmt::format("{:.{}f}", v.get<double>(), precision);
}

std::string ratio(const json& v, const json& base) {
  if (!v.is_number() || !base.is_number() || base.get<double>() == 0) return "";
  return fmt::format("({:.2f}x)", v.get<double>() / base.get<double>());
}

json latency_us(const json& m, const char* p) {
  if (!m.is_object() || !m["latency_ns"].is_object()) return nullptr;
  return m["latency_ns"][p].get<double>() / 1000.0;
}

}  // namespace

void print_comparison(std::ostream& out, const RunResult& run) {
  json base;
  for (const ModeResult& m : run.modes)
    if (m.mode == "baseline" && !m.repetitions.empty()) base = aggregate_metrics(m);
  fmt::print(out, "{:<18} {:>16} {:>16} {:>16} {:>16} {:>16} {:>16} {:>16}  {}\n", "mode", "wakeups/frame",
             "syscalls/frame", "cpu_us/frame", "path_us/frame", "p50_us", "p99_us", "segs/frame", "integrity");
  for (const ModeResult& m : run.modes) {
    if (m.repetitions.empty()) {
      fmt::print(out, "{:<18} {}: {}\n", m.mode, m.status, m.reason);
      continue;
    }
    const json a = aggregate_metrics(m);
    auto col = [&](const json& v, const json& b, int precision = 2) {
      return fmt::format("{} {}", cell(v, precision), ratio(v, b));
    };
    auto time_col = [&](const json& v, const json& b, int precision = 2) {
      const bool marked = !run.timing.comparable && v.is_number();
      return fmt::format("{}{} {}", cell(v, precision), marked ? kTimingMark : "", ratio(v, b));
    };
    const bool predicted = a["predicted"].get<bool>();
    fmt::print(out, "{:<18} {:>16} {:>16} {:>16} {:>16} {:>16} {:>16} {:>16}  {}{}\n",
               m.mode + (predicted ? " *" : ""),
               col(a["wakeups_per_frame"], base.is_null() ? json() : base["wakeups_per_frame"]),
               col(a["syscalls_per_frame"], base.is_null() ? json() : base["syscalls_per_frame"]),
               time_col(a["cpu_us_per_frame"], base.is_null() ? json() : base["cpu_us_per_frame"]),
               time_col(a["receive_path_cpu_us_per_frame"],
                        base.is_null() ? json() : base["receive_path_cpu_us_per_frame"]),
               time_col(latency_us(a, "p50"), latency_us(base, "p50"), 1),
               time_col(latency_us(a, "p99"), latency_us(base, "p99"), 1),
               fmt::format("{}/{}", cell(a["segments_per_frame_achieved"]), cell(a["segments_per_frame_planned"])),
               a["integrity"].get<std::string>(), m.status == "ok" ? "" : " (" + m.status + ")");
  }
  bool any_predicted = false;
  for (const ModeResult& m : run.modes)
    for (const ModeRepetition& r : m.repetitions) any_predicted = any_predicted || r.predicted;
  if (any_predicted) fmt::print(out, "* predicted by the userspace AutoLOWAT model, not measured on this kernel\n");
  if (!run.timing.comparable) fmt::print(out, "{} times not comparable with the host: {}\n", kTimingMark, run.timing.reason);
  fmt::print(out, "(ratios are to baseline; cpu_us is the receiver thread's task-clock, path_us adds the network "
                  "softirq time spent outside it; segs/frame is achieved/planned; latency from the scheduled send "
                  "of each frame's last byte)\n");
  for (const std::string& w : run.warnings) fmt::print(out, "warning: {}\n", w);
}

}  // namespace rcvq
