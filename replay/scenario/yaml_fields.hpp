#pragma once
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace rcvq {

// Strict view of one YAML mapping: every key must be taken by the loader, or finish()
// reports it as unknown. Errors name file:line:column and the dotted key path.
class YamlFields {
 public:
  YamlFields(const std::string& file, const YAML::Node& map, std::string path);

  bool has(const std::string& key) const;
  YAML::Node take(const std::string& key);  // null node when absent
  YamlFields map(const std::string& key);   // nested mapping (empty when absent)

  uint64_t u64(const std::string& key, uint64_t fallback, uint64_t min = 0,
               uint64_t max = UINT64_MAX);
  double number(const std::string& key, double fallback, double min, double max);
  bool boolean(const std::string& key, bool fallback);
  std::string text(const std::string& key, const std::string& fallback);
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& allowed);
  std::vector<std::string> text_list(const std::string& key, const std::vector<std::string>& fallback);

  // Converters for a node taken elsewhere (lists, scalars in unions).
  uint64_t as_u64(const YAML::Node& node, const std::string& key, uint64_t min = 0,
                  uint64_t max = UINT64_MAX) const;
  [[noreturn]] void fail(const YAML::Node& at, const std::string& key, const std::string& message) const;
  [[noreturn]] void fail_here(const std::string& message) const;  // at this mapping

  void finish() const;  // unknown keys are errors
  const std::string& file() const { return file_; }
  std::string key_path(const std::string& key) const;

 private:
  std::string file_;
  YAML::Node node_;
  std::string path_;
  std::set<std::string> taken_;
};

// "file:line:column" of a node (1-based), or just the file when the node has no mark.
std::string yaml_position(const std::string& file, const YAML::Node& node);

}  // namespace rcvq
