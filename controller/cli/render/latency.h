// `latency` output: one interval's aggregate as bcc-style log2 histograms
// per cause, the HWS phase table and the counts, or the same as JSON (ns).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "latency/stats.h"

namespace gp::latency {

std::string latency_text(const Aggregator& a);   // histograms, phase table, counts
nlohmann::json latency_json(const Aggregator& a);  // the same, in ns and counts

}  // namespace gp::latency
