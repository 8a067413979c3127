#include "host/cpu_idle_states.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/host_paths.h"
#include "host/cpu_latency_request.h"

namespace gp {

namespace {

// PM_QOS_CPU_LATENCY_DEFAULT_VALUE: nobody has asked for a bound.
constexpr long kNoQosBound = 2'000'000'000;

}  // namespace

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

std::string describe(const CpuIdleInfo& info) {
  std::string qos = info.qos_target_us < 0            ? ""
                    : info.qos_target_us >= kNoQosBound ? "; no CPU latency request held"
                                                         : fmt::format("; a CPU latency request holds {} us",
                                                                       info.qos_target_us);
  if (info.driver.empty() || info.states.empty())
    return "no cpuidle driver: an idle CPU halts, and its wake-up is up to the platform (on a VM, the "
           "hypervisor's vCPU wake-up: measure with scripts/bench.sh)" +
           qos;
  std::vector<std::string> parts;
  for (const auto& s : info.states)
    parts.push_back(fmt::format("{} {} us{}", s.name, s.exit_latency_us, s.disabled ? " (disabled)" : ""));
  return fmt::format("cpu0 idle states ({}): {}; a doorbell that wakes an idle CPU pays up to {} us of exit "
                     "latency (preempt --idle-latency-us bounds it){}",
                     info.driver, fmt::join(parts, ", "), info.deepest_enabled_us(), qos);
}

nlohmann::json to_json(const CpuIdleInfo& info) {
  nlohmann::json states = nlohmann::json::array();
  for (const auto& s : info.states)
    states.push_back({{"name", s.name}, {"exit_latency_us", s.exit_latency_us}, {"disabled", s.disabled}});
  return {{"driver", info.driver.empty() ? nlohmann::json(nullptr) : nlohmann::json(info.driver)},
          {"states", states},
          {"deepest_enabled_us", info.deepest_enabled_us()},
          {"qos_target_us", info.qos_target_us}};
}

}  // namespace gp
