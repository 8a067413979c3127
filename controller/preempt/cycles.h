// preempt --cycles: suspend, hold, resume, K times, one line per iteration and
// a summary (what the old kfd_preemption_poc printed, plus the queue counts,
// the per-entry outcomes and the in-kernel preemption time when the latency
// probes report it).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "preempt/controller.h"

namespace gp {

struct CyclesOptions {
  int cycles = 10;
  int hold_ms = 100;  // the online job's turn
  int gap_ms = 100;   // the offline job's turn between cycles
};

// Pumps the event source (so the map stays exact and new queues are caught)
// until deadline_ns, a stop signal, or every target gone. Prints target notes.
void pump_until(EventSource& src, PreemptController& ctl, std::uint64_t deadline_ns, std::FILE* out);

// Returns the exit code: 0 when no iteration failed.
int run_cycles(PreemptController& ctl, EventSource& src, const CyclesOptions& opts, std::FILE* out);

}  // namespace gp
