#include "scenario/yaml_fields.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "common/errors.hpp"

namespace rcvq {

std::string yaml_position(const std::string& file, const YAML::Node& node) {
  if (!node.IsDefined() || node.Mark().is_null()) return file;
  return fmt::format("{}:{}:{}", file, node.Mark().line + 1, node.Mark().column + 1);
}

YamlFields::YamlFields(const std::string& file, const YAML::Node& map, std::string path)
    : file_(file), node_(map), path_(std::move(path)) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap())
    fail(node_, "", "expected a mapping of keys");
  // yaml-cpp keeps every pair of a mapping but looks a key up by its first pair, so a
  // repeated key would silently lose its later value.
  if (!node_.IsMap()) return;
  std::set<std::string> seen;
  for (const auto& kv : node_) {
    if (!kv.first.IsScalar()) fail(kv.first, "", "a key must be a plain name, not a list or mapping");
    if (!seen.insert(kv.first.Scalar()).second)
      fail(kv.first, kv.first.Scalar(), "duplicate key (given earlier in this mapping)");
  }
}

std::string YamlFields::key_path(const std::string& key) const {
  if (path_.empty()) return key;
  if (key.empty()) return path_;
  return path_ + "." + key;
}

void YamlFields::fail(const YAML::Node& at, const std::string& key, const std::string& message) const {
  const YAML::Node& where = at.IsDefined() ? at : node_;
  const std::string path = key_path(key);
  throw InputError(fmt::format("{}: {}{}", yaml_position(file_, where), path.empty() ? "" : path + ": ", message));
}

void YamlFields::fail_here(const std::string& message) const { fail(node_, "", message); }

bool YamlFields::has(const std::string& key) const {
  return node_.IsMap() && node_[key].IsDefined();
}

YAML::Node YamlFields::take(const std::string& key) {
  taken_.insert(key);
  if (!node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  return node_[key];
}

YamlFields YamlFields::map(const std::string& key) {
  return YamlFields(file_, take(key), key_path(key));
}

uint64_t YamlFields::as_u64(const YAML::Node& node, const std::string& key, uint64_t min,
                            uint64_t max) const {
  if (!node.IsScalar()) fail(node, key, "expected a non-negative integer");
  const std::string& s = node.Scalar();
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size())
    fail(node, key, fmt::format("expected a non-negative integer, got '{}'", s));
  if (value < min || value > max)
    fail(node, key, fmt::format("{} is out of range [{}, {}]", value, min, max));
  return value;
}

uint64_t YamlFields::u64(const std::string& key, uint64_t fallback, uint64_t min, uint64_t max) {
  YAML::Node n = take(key);
  return n.IsDefined() ? as_u64(n, key, min, max) : fallback;
}

double YamlFields::number(const std::string& key, double fallback, double min, double max) {
  YAML::Node n = take(key);
  if (!n.IsDefined()) return fallback;
  double value = 0;
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, value) || !std::isfinite(value))
    fail(n, key, "expected a number");
  if (value < min || value > max) fail(n, key, fmt::format("{} is out of range [{}, {}]", value, min, max));
  return value;
}

bool YamlFields::boolean(const std::string& key, bool fallback) {
  YAML::Node n = take(key);
  if (!n.IsDefined()) return fallback;
  bool value = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, value)) fail(n, key, "expected true or false");
  return value;
}

std::string YamlFields::text(const std::string& key, const std::string& fallback) {
  YAML::Node n = take(key);
  if (!n.IsDefined()) return fallback;
  if (!n.IsScalar()) fail(n, key, "expected a string");
  return n.Scalar();
}

std::string YamlFields::choice(const std::string& key, const std::string& fallback,
                               const std::vector<std::string>& allowed) {
  YAML::Node n = take(key);
  std::string value = fallback;
  if (n.IsDefined()) {
    if (!n.IsScalar()) fail(n, key, "expected a string");
    value = n.Scalar();
  }
  for (const auto& a : allowed)
    if (a == value) return value;
  fail(n, key, fmt::format("'{}' is not one of: {}", value, fmt::join(allowed, ", ")));
}

std::vector<std::string> YamlFields::text_list(const std::string& key,
                                               const std::vector<std::string>& fallback) {
  YAML::Node n = take(key);
  if (!n.IsDefined()) return fallback;
  if (n.IsScalar()) return {n.Scalar()};
  if (!n.IsSequence()) fail(n, key, "expected a list of strings");
  std::vector<std::string> out;
  for (const auto& item : n) {
    if (!item.IsScalar()) fail(item, key, "expected a string");
    out.push_back(item.Scalar());
  }
  return out;
}

void YamlFields::finish() const {
  if (!node_.IsMap()) return;
  for (const auto& kv : node_) {
    const std::string& key = kv.first.Scalar();
    if (!taken_.count(key)) {
      std::vector<std::string> known(taken_.begin(), taken_.end());
      fail(kv.first, key, fmt::format("unknown key (expected one of: {})", fmt::join(known, ", ")));
    }
  }
}

}  // namespace rcvq
