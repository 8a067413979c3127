// The queue map's own counters (tracing/queue_map.h MapStats), for
// `queues --json` and watch's stats lines: what the map dropped or kept
// against sysfs, and why.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "tracing/queue_map.h"

namespace gp::cli {

nlohmann::json map_stats_json(const MapStats& s);
// ", 3 inconsistent state records dropped, ..." for the counters that are not
// zero and matter to a reader of the text output; empty when all are zero.
std::string map_stats_text(const MapStats& s);

}  // namespace gp::cli
