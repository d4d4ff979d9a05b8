#include "kernels/index.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/errors.hpp"
#include "results/writer.hpp"

namespace rcvq {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

json text_or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

std::string text_at(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

json entry_json(const KernelRunEntry& k) {
  return {{"label", k.label},
          {"requested", k.requested},
          {"bzimage", text_or_null(k.bzimage)},
          {"sha256", text_or_null(k.sha256)},
          {"kernel_release", k.kernel_release},
          {"accel", text_or_null(k.accel)},
          {"timing_comparable", k.timing_comparable ? json(*k.timing_comparable) : json(nullptr)},
          {"timing_reason", text_or_null(k.timing_reason)},
          {"status", k.status},
          {"exit_code", k.exit_code ? json(*k.exit_code) : json(nullptr)},
          {"reason", text_or_null(k.reason)},
          {"run_json", text_or_null(k.run_json)},
          {"console_log", text_or_null(k.console_log)},
          {"wall_s", k.wall_s}};
}

KernelRunEntry entry_from_json(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("label") || !j["label"].is_string() || !j.contains("status") ||
      !j["status"].is_string())
    throw InputError(fmt::format("{}: not a kernel entry (needs a label and a status)", where));
  KernelRunEntry k;
  k.label = j["label"].get<std::string>();
  k.requested = text_at(j, "requested");
  k.bzimage = text_at(j, "bzimage");
  k.sha256 = text_at(j, "sha256");
  k.kernel_release = text_at(j, "kernel_release");
  k.accel = text_at(j, "accel");
  if (j.contains("timing_comparable") && j["timing_comparable"].is_boolean())
    k.timing_comparable = j["timing_comparable"].get<bool>();
  k.timing_reason = text_at(j, "timing_reason");
  k.status = j["status"].get<std::string>();
  if (j.contains("exit_code") && j["exit_code"].is_number_integer()) k.exit_code = j["exit_code"].get<int>();
  k.reason = text_at(j, "reason");
  k.run_json = text_at(j, "run_json");
  k.console_log = text_at(j, "console_log");
  k.wall_s = j.value("wall_s", 0.0);
  return k;
}

}  // namespace

json to_json(const KernelIndex& index) {
  json kernels = json::array();
  for (const KernelRunEntry& k : index.kernels) kernels.push_back(entry_json(k));
  return {{"format", kKernelIndexFormat}, {"complete", index.complete}, {"started_utc", index.started_utc},
          {"scenario", index.scenario},   {"modes", index.modes},       {"kernels", kernels}};
}

KernelIndex kernel_index_from_json(const json& doc, const std::string& source) {
  if (!doc.is_object() || doc.value("format", "") != kKernelIndexFormat || !doc.contains("kernels") ||
      !doc["kernels"].is_array())
    throw InputError(fmt::format("{}: not an rcvqbench kernel index (format {} with a kernels array)", source,
                                 kKernelIndexFormat));
  KernelIndex index;
  index.complete = doc.value("complete", false);
  index.started_utc = text_at(doc, "started_utc");
  index.scenario = doc.value("scenario", json::object());
  if (doc.contains("modes") && doc["modes"].is_array())
    for (const json& m : doc["modes"])
      if (m.is_string()) index.modes.push_back(m.get<std::string>());
  for (size_t i = 0; i < doc["kernels"].size(); ++i)
    index.kernels.push_back(entry_from_json(doc["kernels"][i], fmt::format("{}: kernels[{}]", source, i)));
  return index;
}

void write_kernel_index(const std::string& run_dir, const KernelIndex& index) {
  write_file_atomic((fs::path(run_dir) / kKernelIndexFile).string(), to_json(index).dump(2) + "\n");
}

KernelIndex read_kernel_index(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / kKernelIndexFile).string();
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot be read", path));
  std::ostringstream text;
  text << in.rdbuf();
  json doc;
  try {
    doc = json::parse(text.str());
  } catch (const json::parse_error& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  return kernel_index_from_json(doc, path);
}

bool is_kernel_matrix_dir(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::exists(fs::path(path) / kKernelIndexFile, ec);
}

KernelMatrix load_kernel_matrix(const std::string& run_dir) {
  KernelMatrix matrix;
  matrix.dir = run_dir;
  matrix.index = read_kernel_index(run_dir);
  for (const KernelRunEntry& k : matrix.index.kernels) {
    std::error_code ec;
    const fs::path run_json = fs::path(run_dir) / k.run_json;
    if (k.run_json.empty() || !fs::exists(run_json, ec)) matrix.runs.emplace_back();
    else matrix.runs.emplace_back(load_run(run_json.string()));
  }
  return matrix;
}

}  // namespace rcvq
