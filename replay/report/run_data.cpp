#include "report/run_data.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "common/errors.hpp"

namespace rcvq {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot be read", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const json& null_json() {
  static const json null;
  return null;
}

std::string type_name(const json& value) {
  return value.is_string() ? fmt::format("\"{}\"", value.get<std::string>()) : value.dump();
}

// A mode's metrics or one repetition: the documented keys, wherever present.
void check_metrics(const json& metrics, const std::string& file, const std::string& where) {
  if (!metrics.is_object()) throw InputError(fmt::format("{}: {}: expected an object, got {}", file, where, type_name(metrics)));
  auto fail = [&](const std::string& key, const char* expected, const json& value) {
    throw InputError(fmt::format("{}: {}.{}: expected {}, got {}", file, where, key, expected, type_name(value)));
  };
  auto numbers_inside = [&](const std::string& key, const json& value) {
    if (value.is_null()) return;
    if (!value.is_object()) fail(key, "an object of numbers", value);
    for (const auto& [inner, v] : value.items())
      if (!v.is_number() && !v.is_null()) fail(key + "." + inner, "a number or null", v);
  };
  for (const auto& [key, value] : metrics.items()) {
    const bool per_frame = key.size() > 10 && key.compare(key.size() - 10, 10, "_per_frame") == 0;
    if (key == "frames" || key == "bytes") {
      if (!value.is_number_unsigned()) fail(key, "a non-negative integer", value);
    } else if (per_frame || key == "frames_per_s" || key == "wall_s") {
      if (!value.is_number() && !value.is_null()) fail(key, "a number or null", value);
    } else if (key == "latency_ns" || key == "latency_from_send_ns" || key == "counts") {
      numbers_inside(key, value);
    } else if (key == "integrity") {
      if (value != "ok" && value != "mismatch") fail(key, "\"ok\" or \"mismatch\"", value);
    } else if (key == "predicted" || key == "timing_comparable") {
      if (!value.is_boolean()) fail(key, "true or false", value);
    } else if (key == "unavailable") {
      if (!value.is_object()) fail(key, "an object of reasons", value);
      for (const auto& [inner, why] : value.items())
        if (!why.is_string()) fail(key + "." + inner, "a string", why);
    }
  }
}

}  // namespace

void check_run_contract(const json& run, const std::string& file) {
  for (const auto& [name, mode] : run["modes"].items()) {
    const std::string where = "modes." + name;
    if (!mode.is_object()) throw InputError(fmt::format("{}: {}: expected an object, got {}", file, where, type_name(mode)));
    const json status = mode.value("status", json("ok"));
    if (status != "ok" && status != "unsupported" && status != "failed" && status != "not run")
      throw InputError(fmt::format("{}: {}.status: expected \"ok\", \"unsupported\", \"failed\" or \"not run\", got {}",
                                   file, where, type_name(status)));
    if (mode.contains("reason") && !mode["reason"].is_string() && !mode["reason"].is_null())
      throw InputError(fmt::format("{}: {}.reason: expected a string, got {}", file, where, type_name(mode["reason"])));
    if (mode.contains("metrics") && !mode["metrics"].is_null()) check_metrics(mode["metrics"], file, where + ".metrics");
    if (!mode.contains("repetitions")) continue;
    const json& repetitions = mode["repetitions"];
    if (!repetitions.is_array())
      throw InputError(fmt::format("{}: {}.repetitions: expected a list, got {}", file, where, type_name(repetitions)));
    for (size_t i = 0; i < repetitions.size(); ++i)
      check_metrics(repetitions[i], file, fmt::format("{}.repetitions[{}]", where, i));
  }
}

std::vector<std::string> LoadedRun::mode_names() const {
  std::vector<std::string> names;
  // run.json keeps modes as an object; provenance.modes gives the order they ran in
  // (--modes included), the scenario's "receiver.modes" echo that of older runs.
  for (const auto& [name, _] : run["modes"].items()) names.push_back(name);
  const json* order = &run;
  const std::vector<const char*> path =
      run.contains("provenance") ? std::vector{"provenance", "modes"} : std::vector{"scenario", "config", "receiver", "modes"};
  for (const char* key : path) {
    if (!order->is_object() || !order->contains(key)) return names;
    order = &(*order)[key];
  }
  if (!order->is_array()) return names;
  std::vector<std::string> ordered;
  for (const json& n : *order)
    if (n.is_string() && run["modes"].contains(n.get<std::string>())) ordered.push_back(n.get<std::string>());
  for (const std::string& n : names)
    if (std::find(ordered.begin(), ordered.end(), n) == ordered.end()) ordered.push_back(n);
  return ordered;
}

const json& LoadedRun::mode(const std::string& name) const {
  const json& modes = run["modes"];
  return modes.contains(name) ? modes[name] : null_json();
}

const json& LoadedRun::metrics(const std::string& name) const {
  const json& m = mode(name);
  return m.is_object() && m.contains("metrics") ? m["metrics"] : null_json();
}

bool LoadedRun::predicted(const std::string& name) const {
  const json& m = metrics(name);
  return m.is_object() && m.value("predicted", false);
}

std::string LoadedRun::timing_domain() const { return rcvq::timing_domain(run.value("host", json())); }

TimingComparability LoadedRun::timing() const { return timing_comparability(run.value("host", json())); }

std::optional<double> number_at(const json& j, const std::string& pointer) {
  const json::json_pointer ptr(pointer);
  if (!j.is_object() || !j.contains(ptr)) return std::nullopt;
  const json& v = j[ptr];
  if (!v.is_number()) return std::nullopt;
  return v.get<double>();
}

std::vector<PercentilePoint> parse_hgrm(const std::string& text, const std::string& source) {
  std::vector<PercentilePoint> points;
  std::istringstream lines(text);
  std::string line;
  int line_no = 0;
  bool header_seen = false;
  while (std::getline(lines, line)) {
    ++line_no;
    std::istringstream fields(line);
    std::vector<std::string> cols;
    for (std::string f; fields >> f;) cols.push_back(f);
    if (cols.empty() || cols[0][0] == '#') continue;
    if (cols[0] == "Value") {
      header_seen = true;
      continue;
    }
    if (cols.size() != 3 && cols.size() != 4)
      throw InputError(fmt::format("{}:{}: expected 3 or 4 columns of an HdrHistogram percentile row", source,
                                   line_no));
    PercentilePoint p;
    try {
      p.value = std::stod(cols[0]);
      p.percentile = std::stod(cols[1]);
      p.total_count = std::stoull(cols[2]);
      p.inverse = cols.size() == 4 ? std::stod(cols[3]) : std::numeric_limits<double>::infinity();
    } catch (const std::exception&) {
      throw InputError(fmt::format("{}:{}: not a number in '{}'", source, line_no, line));
    }
    points.push_back(p);
  }
  if (!header_seen) throw InputError(fmt::format("{}: no 'Value Percentile TotalCount' header", source));
  return points;
}

LoadedRun load_run(const std::string& path) {
  LoadedRun loaded;
  const fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    loaded.dir = p.string();
    loaded.json_path = (p / "run.json").string();
  } else {
    loaded.json_path = p.string();
    loaded.dir = p.has_parent_path() ? p.parent_path().string() : ".";
  }
  if (!fs::exists(loaded.json_path, ec))
    throw InputError(fmt::format("{}: no such {}", loaded.json_path,
                                 fs::is_directory(p, ec) ? "file (not a results directory?)"
                                                         : "results directory or run.json"));
  const std::string text = read_text(loaded.json_path);
  try {
    loaded.run = json::parse(text);
  } catch (const json::parse_error& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", loaded.json_path, e.what()));
  }
  if (!loaded.run.is_object() || loaded.run.value("format", "") != "rcvqbench-run/1" ||
      !loaded.run.contains("modes") || !loaded.run["modes"].is_object())
    throw InputError(fmt::format("{}: not an rcvqbench run (format rcvqbench-run/1 with a modes object)",
                                 loaded.json_path));
  check_run_contract(loaded.run, loaded.json_path);
  for (const std::string& name : loaded.mode_names()) {
    const fs::path hgrm = fs::path(loaded.dir) / (name + ".hgrm");
    if (fs::exists(hgrm, ec)) loaded.latency_us[name] = parse_hgrm(read_text(hgrm), hgrm.string());
  }
  return loaded;
}

}  // namespace rcvq
