// `queues --hqd` output: text lines and one JSON object.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hqd/join.h"

namespace gp {
class ProcessNames;
}

namespace gp::hqd {

// pids: only these processes' queues and totals (empty = all); GPUs, kernel
// queues and unmatched slots are always shown (they are per GPU).
std::vector<std::string> hqd_text(const HqdJoin& j, const std::vector<std::uint32_t>& pids, ProcessNames& names);
nlohmann::json hqd_json(const HqdJoin& j, const std::vector<std::uint32_t>& pids);

}  // namespace gp::hqd
