#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "receiver/connection.hpp"
#include "scenario/scenario.hpp"

namespace rcvq {

struct HostProbe;
struct ReplayPlan;
struct ModeRepetition;

// A receiver mode is a small strategy plugged into the one shared epoll loop: it may
// prepare the listener, configure each accepted socket before any data arrives, react
// after each read, and add or predict metrics once the repetition is over.
class ReceiverMode {
 public:
  virtual ~ReceiverMode() = default;
  // The epoll trigger the mode's reader uses, given the scenario's choice: a mode whose
  // socket polls readable before its data can be read must be edge-triggered.
  virtual bool edge_triggered(bool configured) const { return configured; }
  // In the receiver's netns, before the replayer connects.
  virtual void prepare(int /*listen_fd*/) {}
  // After accept, before any data: socket options, sockmap insertion, enabling hooks.
  virtual void on_accept(Connection& /*conn*/) {}
  // After every recv that returned data.
  virtual void after_read(Connection& /*conn*/) {}
  // Once the repetition's measurements are in: add mode-specific metrics or, for a
  // predicting mode, replace measured values by predicted ones.
  virtual void finish(const ReplayPlan& /*plan*/, ModeRepetition& /*rep*/) {}
  // When frames stopped arriving: the mode's own state that may say why (empty if none).
  virtual std::string stall_detail() const { return {}; }
};

// Why a mode cannot run on this host or scenario; empty when it can.
using ModeSupport = std::optional<std::string>;

struct ModeDefinition {
  std::string name;
  std::string summary;
  std::function<ModeSupport(const Scenario&, const HostProbe&)> unsupported;
  std::function<std::unique_ptr<ReceiverMode>(const Scenario&)> make;
  // Reads the whole plan (its stream, segments and frames) in finish(): a run with this
  // mode holds its plan, and a streamed one cannot run the mode.
  bool needs_whole_plan = false;
  // A known defect of this kernel that can stall the mode or falsify its numbers, found
  // by trying it (once per process); the run warns and a failure's reason names it.
  std::function<std::optional<std::string>()> kernel_caveat = nullptr;
};

// Every mode in display order; the list lives in mode_registry.cpp so the set and
// its order are visible in one place.
const std::vector<ModeDefinition>& receiver_modes();
// Their names (the interface of design.md), for validating scenarios and flags.
const std::vector<std::string>& mode_names();
const ModeDefinition* find_mode(const std::string& name);
// Whether one of the (known) modes reads the whole plan, so a run of them holds it.
bool modes_need_whole_plan(const std::vector<std::string>& modes);

}  // namespace rcvq
