#include "gate/bench_results.hpp"

#include <fmt/format.h>

#include <fstream>
#include <set>
#include <sstream>

#include "common/errors.hpp"
#include "report/run_data.hpp"

namespace rcvq {
namespace {

using json = nlohmann::json;

// Fields of a Google Benchmark row that are not user counters.
const std::set<std::string>& reserved_fields() {
  static const std::set<std::string> fields{
      "name",           "family_index",  "per_family_instance_index", "run_name", "run_type",
      "repetitions",    "repetition_index", "threads",                "iterations", "real_time",
      "cpu_time",       "time_unit",     "label",                     "error_occurred",
      "error_message",  "aggregate_name", "aggregate_unit",           "big_o",    "rms"};
  return fields;
}

double ns_per_unit(const std::string& unit, const std::string& where) {
  if (unit == "ns") return 1;
  if (unit == "us") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  throw InputError(fmt::format("{}: unknown time_unit '{}'", where, unit));
}

// Label items "unsupported <metric>: <why>" -> metric -> why.
void read_label(const std::string& label, BenchmarkSamples& b) {
  size_t start = 0;
  while (start <= label.size()) {
    size_t end = label.find("; ", start);
    if (end == std::string::npos) end = label.size();
    const std::string item = label.substr(start, end - start);
    if (item.rfind(kUnsupportedLabelPrefix, 0) == 0) {
      const std::string rest = item.substr(std::string(kUnsupportedLabelPrefix).size());
      const size_t colon = rest.find(": ");
      b.unsupported[rest.substr(0, colon)] = colon == std::string::npos ? "" : rest.substr(colon + 2);
    }
    start = end + 2;
  }
}

// Google Benchmark appends run settings to the name ("/iterations:1", "/repeats:3",
// "/manual_time"); a baseline taken with 10 repetitions must still match a run with 3,
// so those parts are not part of a benchmark's identity.
std::string benchmark_identity(const std::string& run_name) {
  std::string out;
  size_t start = 0;
  while (start <= run_name.size()) {
    size_t end = run_name.find('/', start);
    if (end == std::string::npos) end = run_name.size();
    const std::string part = run_name.substr(start, end - start);
    const bool setting = part.rfind("iterations:", 0) == 0 || part.rfind("repeats:", 0) == 0 ||
                         part.rfind("min_time:", 0) == 0 || part.rfind("min_warmup_time:", 0) == 0 ||
                         part == "manual_time" || part == "real_time" || part == "process_time";
    if (!setting) out += (out.empty() ? "" : "/") + part;
    start = end + 1;
  }
  return out;
}

struct PendingAggregate {
  std::map<std::string, double> values;
  std::string kind;  // "median" preferred over "mean"
};

BenchmarkFile parse_google_benchmark(const json& doc, const std::string& path) {
  BenchmarkFile file;
  file.path = path;
  file.format = "google-benchmark";
  file.host = doc.contains("context") ? doc["context"] : json::object();
  if (!doc["benchmarks"].is_array()) throw InputError(fmt::format("{}: \"benchmarks\" is not an array", path));

  std::map<std::string, PendingAggregate> aggregates;
  size_t index = 0;
  for (const json& row : doc["benchmarks"]) {
    const std::string where = fmt::format("{}: benchmarks[{}]", path, index++);
    if (!row.is_object() || !row.contains("name") || !row["name"].is_string())
      throw InputError(fmt::format("{}: not a benchmark entry (no \"name\")", where));
    const std::string name = benchmark_identity(row.value("run_name", row["name"].get<std::string>()));
    if (!file.benchmarks.contains(name)) file.order.push_back(name);
    BenchmarkSamples& b = file.benchmarks[name];

    if (row.value("error_occurred", false)) {
      const std::string message = row.value("error_message", std::string("error"));
      const std::string prefix = kUnsupportedErrorPrefix;
      if (message.rfind(prefix, 0) == 0) {
        b.status = BenchmarkSamples::Status::Unsupported;
        b.reason = message.substr(prefix.size());
      } else {
        b.status = BenchmarkSamples::Status::Failed;
        b.reason = message;
      }
      continue;
    }
    if (row.contains("label") && row["label"].is_string()) read_label(row["label"].get<std::string>(), b);

    std::map<std::string, double> values;
    const double scale = ns_per_unit(row.value("time_unit", std::string("ns")), where);
    for (const char* key : {"real_time", "cpu_time"})
      if (row.contains(key)) {
        if (!row[key].is_number()) throw InputError(fmt::format("{}: \"{}\" is not a number", where, key));
        values[std::string(key) + "_ns"] = row[key].get<double>() * scale;
      }
    for (const auto& [key, value] : row.items()) {
      if (reserved_fields().contains(key) || value.is_null()) continue;
      // Every other field is a user counter: a value of another type is a broken file.
      if (!value.is_number()) throw InputError(fmt::format("{}: \"{}\" is not a number: {}", where, key, value.dump()));
      values[key] = value.get<double>();
    }

    const std::string run_type = row.value("run_type", std::string("iteration"));
    if (run_type == "aggregate") {
      const std::string kind = row.value("aggregate_name", std::string());
      PendingAggregate& a = aggregates[name];
      if (kind == "median" || (kind == "mean" && a.kind != "median")) a = {values, kind};
      continue;
    }
    for (const auto& [metric, value] : values) b.samples[metric].push_back(value);
  }
  // With --benchmark_report_aggregates_only the repetitions are gone: keep one value.
  for (auto& [name, a] : aggregates) {
    BenchmarkSamples& b = file.benchmarks[name];
    if (!b.samples.empty() || a.kind.empty()) continue;
    for (const auto& [metric, value] : a.values) b.samples[metric] = {value};
    b.from_aggregate = true;
  }
  return file;
}

BenchmarkFile parse_run_json(const json& doc, const std::string& path) {
  BenchmarkFile file;
  file.path = path;
  file.format = "rcvqbench-run";
  file.host = doc.value("host", json::object());
  const std::string scenario = doc.contains("scenario") && doc["scenario"].is_object()
                                   ? doc["scenario"].value("name", std::string("scenario"))
                                   : "scenario";
  if (!doc["modes"].is_object()) throw InputError(fmt::format("{}: \"modes\" is not an object", path));
  check_run_contract(doc, path);
  for (const auto& [mode, m] : doc["modes"].items()) {
    const std::string status = m.value("status", std::string("ok"));
    // An interrupted run never reached this mode: it has no result, as if absent.
    if (status == "not run") continue;
    const std::string name = fmt::format("scenario/{}/{}", scenario, mode);
    file.order.push_back(name);
    BenchmarkSamples& b = file.benchmarks[name];
    if (status != "ok") {
      b.status = status == "unsupported" ? BenchmarkSamples::Status::Unsupported : BenchmarkSamples::Status::Failed;
      b.reason = m.value("reason", std::string());
      continue;
    }
    if (!m["repetitions"].is_array())
      throw InputError(fmt::format("{}: modes.{}.repetitions is not an array", path, mode));
    for (const json& rep : m["repetitions"]) {
      if (rep.value("integrity", std::string("ok")) != "ok") {
        b.status = BenchmarkSamples::Status::Failed;
        b.reason = "received bytes differ from the sent stream";
      }
      const RepetitionMetrics metrics = metrics_of_repetition(rep);
      for (const auto& [metric, value] : metrics.values) b.samples[metric].push_back(value);
      for (const auto& [metric, why] : metrics.unsupported) b.unsupported[metric] = why;
    }
  }
  return file;
}

// Google Benchmark writes a non-finite counter (the coefficient of variation of an
// all-zero counter, say) as a bare NaN/inf token, which is not JSON. Those become
// null, i.e. no value, before parsing; string contents are left alone.
std::string nonfinite_to_null(const std::string& text) {
  static const std::vector<std::string> tokens{"-Infinity", "Infinity", "-NaN", "NaN", "-nan", "nan", "-inf", "inf"};
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (const std::string& t : tokens)
      if (text.compare(i, t.size(), t) == 0) {
        out += "null";
        i += t.size() - 1;
        replaced = true;
        break;
      }
    if (!replaced) out += c;
  }
  return out;
}

}  // namespace

RepetitionMetrics metrics_of_repetition(const json& rep) {
  RepetitionMetrics m;
  if (!rep.is_object()) return m;
  const json reasons = rep.value("unavailable", json::object());
  for (const auto& [key, value] : rep.items()) {
    if (value.is_number()) {
      m.values[key] = value.get<double>();
    } else if (value.is_null() && key != "latency_ns" && key != "latency_from_send_ns") {
      m.unsupported[key] = reasons.value(key, std::string("not measured"));
    }
  }
  m.predicted = rep.value("predicted", false);
  const json& latency = rep.contains("latency_ns") ? rep["latency_ns"] : json();
  for (const char* p : {"p50", "p99"}) {
    const std::string metric = std::string(p) + "_us";
    if (latency.is_object() && latency[p].is_number())
      m.values[metric] = latency[p].get<double>() / 1e3;
    else
      m.unsupported[metric] = "no frame latency was recorded";
  }
  return m;
}

BenchmarkFile parse_benchmark_json(const json& doc, const std::string& path) {
  if (!doc.is_object()) throw InputError(fmt::format("{}: not a JSON object", path));
  if (doc.contains("benchmarks")) return parse_google_benchmark(doc, path);
  if (doc.value("format", std::string()).rfind("rcvqbench-run/", 0) == 0) return parse_run_json(doc, path);
  throw InputError(fmt::format(
      "{}: neither Google Benchmark JSON (no \"benchmarks\") nor an rcvqbench run.json (no \"format\")", path));
}

json read_benchmark_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open", path));
  std::stringstream text;
  text << in.rdbuf();
  json doc;
  try {
    doc = json::parse(nonfinite_to_null(text.str()));
  } catch (const json::parse_error& e) {
    throw InputError(fmt::format("{}: not valid JSON (byte {}): {}", path, e.byte, e.what()));
  }
  return doc;
}

BenchmarkFile load_benchmark_file(const std::string& path) { return parse_benchmark_json(read_benchmark_json(path), path); }

}  // namespace rcvq
