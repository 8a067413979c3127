// doctor --online-pid: will preempt --online-pid hear this process's GPU
// submissions as they happen? Loads the doorbell uprobes, attaches them to
// the process's ROCm runtime and counts its doorbell stores for a while.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "host/cpu_idle_states.h"

namespace gp {

struct DoorbellCheck {
  pid_t pid = 0;
  bool attached = false;
  std::string library;  // as mapped in the process
  std::string links;    // "uprobe_multi" or "perf_event": the kind of uprobe link this kernel got
  std::string error;    // why not attached
  double seconds = 0;   // how long it counted
  std::uint64_t doorbells = 0, other_stores = 0;
  CpuIdleInfo idle;  // what a doorbell's wake-up of an idle CPU costs here
};

DoorbellCheck check_doorbells(pid_t pid, double seconds);

}  // namespace gp
