// `report`: the user's experiments 1-4 as analyses over recorded traces.
//
//   1. per PID, the queue count over time (min / mean / max, stable or not)
//   2. the queue ids, and (several files) whether they repeat across runs
//   3. the overlap between processes that ran at the same time
//   4. queue attributes, lifetimes, the order of creates and destroys,
//      evictions and suspensions with durations, preemption latency by cause
//
// Text for people (report_text), JSON for scripts (report_json). Both are
// deterministic for a given input, so golden files can pin them.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trace/analysis.h"

namespace gp::trace {

std::string report_text(const std::vector<TraceAnalysis>& runs);
nlohmann::json report_json(const std::vector<TraceAnalysis>& runs);

// Total length of the time both processes had at least one live queue (on
// `gpu_id`, or on any GPU when nullopt).
std::uint64_t concurrent_ns(const TraceAnalysis& a, std::uint32_t pid_a, std::uint32_t pid_b,
                            std::optional<std::uint32_t> gpu_id = std::nullopt);

}  // namespace gp::trace
