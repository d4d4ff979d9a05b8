#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "scenario/scenario.hpp"

namespace rcvq {

// A scenario is a page of YAML; yaml-cpp holds ~85 bytes per byte of text, so a
// larger file is refused before it is parsed (a long `sizes:` list belongs in a capture).
inline constexpr uint64_t kMaxScenarioFileBytes = 4ULL << 20;

// Strict loading: unknown keys, wrong types and impossible values throw InputError
// naming file:line:column and the key. Defaults are listed in configs/README.md.
Scenario load_scenario(const std::string& path);
Scenario parse_scenario(const std::string& yaml_text, const std::string& file);

// The modes of `--modes a,b,...`: known names, each given once. Throws InputError.
std::vector<std::string> parse_modes_option(const std::string& csv);

}  // namespace rcvq
