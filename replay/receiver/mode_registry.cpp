#include "receiver/modes/modes.hpp"

namespace rcvq {

const std::vector<ModeDefinition>& receiver_modes() {
  static const std::vector<ModeDefinition> modes = {
      baseline_mode(),
      lowat_user_mode(),
      strparser_mode(),
      autolowat_mode(),
      autolowat_model_mode(),
  };
  return modes;
}

const std::vector<std::string>& mode_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const ModeDefinition& m : receiver_modes()) v.push_back(m.name);
    return v;
  }();
  return names;
}

const ModeDefinition* find_mode(const std::string& name) {
  for (const ModeDefinition& m : receiver_modes())
    if (m.name == name) return &m;
  return nullptr;
}

bool modes_need_whole_plan(const std::vector<std::string>& modes) {
  for (const std::string& name : modes)
    if (const ModeDefinition* m = find_mode(name); m && m->needs_whole_plan) return true;
  return false;
}

}  // namespace rcvq
