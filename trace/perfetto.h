// Export to the Chrome trace-event JSON format, which ui.perfetto.dev and
// chrome://tracing open directly.
//
//   process "python3 (4242)"        one per owner tgid
//     thread "process"  (tid 0)     updates, failures, sweeps, debugger suspends (instants)
//     thread "queue 3 gpu 48301"    one per (qid, gpu): lifetime slice, with
//                                   active / evicted / suspended / inactive slices inside
//     counter "live queues"
//   process "gpu 48301 preemptions" one per GPU: a slice per preemption, with a
//                                   flow arrow ("s" -> "f") to every victim queue
//
// Times are microseconds since the trace start, so several runs line up at 0;
// with several files each run's processes are kept apart by a pid offset.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trace/analysis.h"

namespace gp::trace {

nlohmann::json perfetto_json(const std::vector<TraceAnalysis>& runs);
// Throws std::runtime_error with the path and errno text on failure.
void write_perfetto(const std::vector<TraceAnalysis>& runs, const std::string& path);

}  // namespace gp::trace
