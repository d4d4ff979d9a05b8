#pragma once
#include <string>

#include "scenario/scenario.hpp"

namespace rcvq {

// Strict loading: unknown keys, wrong types and impossible values throw InputError
// naming file:line:column and the key. Defaults are listed in configs/README.md.
Scenario load_scenario(const std::string& path);
Scenario parse_scenario(const std::string& yaml_text, const std::string& file);

}  // namespace rcvq
