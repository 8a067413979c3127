// doctor's renderings of what it measured: the CPU idle states a doorbell's
// wake-up may have to leave, and the doorbell check of --online-pid.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "attach/doorbell_check.h"
#include "host/cpu_idle_states.h"

namespace gp {

std::string describe(const CpuIdleInfo& info);
nlohmann::json to_json(const CpuIdleInfo& info);
std::string describe(const DoorbellCheck& c);
nlohmann::json to_json(const DoorbellCheck& c);

}  // namespace gp
