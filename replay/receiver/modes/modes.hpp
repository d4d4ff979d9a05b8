#pragma once
#include "probes/host_probe.hpp"
#include "receiver/mode.hpp"

namespace rcvq {

// One factory per receiver mode; mode_registry.cpp lists them in display order.
ModeDefinition baseline_mode();
ModeDefinition lowat_user_mode();
ModeDefinition strparser_mode();
ModeDefinition autolowat_mode();
ModeDefinition autolowat_model_mode();

}  // namespace rcvq
