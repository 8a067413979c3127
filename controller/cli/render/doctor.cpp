#include "cli/render/doctor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace gp {

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

std::string describe(const DoorbellCheck& c) {
  if (!c.attached)
    return fmt::format("pid {}: no doorbell uprobes ({}); preempt --online-pid would detect by polling only", c.pid,
                       c.error);
  return fmt::format(
      "pid {}: doorbell uprobes attached to {} ({} links); in {:.1f} s: {} doorbell store(s), {} other signal "
      "store(s){}",
      c.pid, c.library, c.links, c.seconds, c.doorbells, c.other_stores,
      c.doorbells ? "" : " (no GPU submission meanwhile, or one that bypasses hsa_signal_store_*: then polling)");
}

nlohmann::json to_json(const DoorbellCheck& c) {
  return {{"pid", c.pid},         {"attached", c.attached},   {"library", c.library}, {"links", c.links},
          {"error", c.error},     {"seconds", c.seconds},     {"doorbells", c.doorbells},
          {"other_stores", c.other_stores}, {"cpu_idle", to_json(c.idle)}};
}

}  // namespace gp
