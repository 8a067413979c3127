#include "host/cpu_idle_states.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/host_paths.h"
#include "host/cpu_latency_request.h"

namespace gp {

long CpuIdleInfo::deepest_enabled_us() const {
  long deepest = 0;
  for (const auto& s : states)
    if (!s.disabled) deepest = std::max(deepest, s.exit_latency_us);
  return deepest;
}

CpuIdleInfo read_cpu_idle() {
  CpuIdleInfo info;
  std::string text;
  if (read_text_file(host_path("/sys/devices/system/cpu/cpuidle/current_driver"), text) && text != "none")
    info.driver = text;
  for (int i = 0;; ++i) {
    const std::string dir = host_path(fmt::format("/sys/devices/system/cpu/cpu0/cpuidle/state{}", i));
    CpuIdleState s;
    if (!read_text_file(dir + "/name", s.name)) break;
    if (read_text_file(dir + "/latency", text)) s.exit_latency_us = std::strtol(text.c_str(), nullptr, 10);
    s.disabled = read_text_file(dir + "/disable", text) && text == "1";
    info.states.push_back(std::move(s));
  }
  info.qos_target_us = cpu_latency_target(host_path(kCpuLatencyQosPath));
  if (info.qos_target_us < 0) info.qos_target_us = -1;
  return info;
}

}  // namespace gp
