#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rcvq {

// One benchmark (a scenario x mode, or a microbenchmark) as the gate sees it: every
// metric's samples, one per repetition, and the metrics it could not measure.
struct BenchmarkSamples {
  enum class Status { Ok, Unsupported, Failed } status = Status::Ok;
  std::string reason;                                // for Unsupported / Failed
  std::map<std::string, std::vector<double>> samples;  // metric -> values
  std::map<std::string, std::string> unsupported;    // metric -> why it has no value
  bool from_aggregate = false;  // only a mean/median row was recorded, not repetitions
};

struct BenchmarkFile {
  std::string path;
  std::string format;  // "google-benchmark" or "rcvqbench-run"
  nlohmann::json host;  // what the numbers were taken on
  std::vector<std::string> order;                   // benchmark names as they appear
  std::map<std::string, BenchmarkSamples> benchmarks;
};

// Reads Google Benchmark JSON (as rcvqbench-bench writes it: repetitions as
// "iteration" rows, user counters as fields, unsupported metrics listed in the label,
// unsupported/failed modes as errors) or an rcvqbench run.json. Throws InputError
// naming the file and the offending entry.
BenchmarkFile load_benchmark_file(const std::string& path);
// The document itself, with Google Benchmark's bare NaN/inf tokens (not JSON) read as
// null. Throws InputError naming the file.
nlohmann::json read_benchmark_json(const std::string& path);
BenchmarkFile parse_benchmark_json(const nlohmann::json& doc, const std::string& path);

// The label and error conventions rcvqbench-bench writes and the gate reads back.
// Label: "; "-separated items, an unmeasured metric as "unsupported <metric>: <why>".
inline constexpr const char* kUnsupportedLabelPrefix = "unsupported ";
// Error message of a benchmark whose mode cannot run here.
inline constexpr const char* kUnsupportedErrorPrefix = "unsupported: ";
// Label item for a benchmark computed by a model rather than measured.
inline constexpr const char* kPredictedLabel = "predicted";

}  // namespace rcvq

namespace rcvq {

// The per-frame metrics of one run.json repetition under the names the bench and the
// gate use (latency percentiles as p50_us / p99_us); nulls become `unsupported` with
// the reason run.json gives.
struct RepetitionMetrics {
  std::map<std::string, double> values;
  std::map<std::string, std::string> unsupported;
  bool predicted = false;
};
RepetitionMetrics metrics_of_repetition(const nlohmann::json& repetition);

}  // namespace rcvq
