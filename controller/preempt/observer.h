// Who is told about each suspension and resumption the controller carries out
// (PreemptController::set_observer): the metrics (controller/metrics/), and
// whatever else wants the same facts without reading the loops' log lines.
// Called on the thread that called suspend_all()/resume_all(), after the
// ioctls returned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "preempt/op_tally.h"

namespace gp {

// What decided a suspension: the automatic mode's doorbell uprobe or queue
// pointer polling, a claim on the control socket (`ctl`, or the agent's), or
// --cycles.
enum class SuspendTrigger : std::uint8_t { Doorbell, Poll, Ctl, Cycles };
constexpr std::size_t kSuspendTriggers = 4;

constexpr std::string_view to_string(SuspendTrigger t) {
  switch (t) {
    case SuspendTrigger::Doorbell: return "doorbell";
    case SuspendTrigger::Poll: return "poll";
    case SuspendTrigger::Ctl: return "ctl";
    case SuspendTrigger::Cycles: return "cycles";
  }
  return "?";
}

struct SuspendCause {
  SuspendTrigger trigger = SuspendTrigger::Ctl;
  // CLOCK_MONOTONIC of the online work that asked for it: the doorbell store
  // (exact), the sample that saw the queue pointers move, the claim's arrival.
  // 0: unknown.
  std::uint64_t detected_ns = 0;
};

class PreemptObserver {
 public:
  virtual ~PreemptObserver() = default;
  // done_ns: CLOCK_MONOTONIC when every target's SUSPEND had returned.
  virtual void suspended(const SuspendCause& cause, const std::vector<TargetOp>& ops, std::uint64_t done_ns) = 0;
  // ops is empty when the targets were resumed by detaching them.
  virtual void resumed(const std::vector<TargetOp>& ops, std::uint64_t done_ns) = 0;
};

}  // namespace gp
