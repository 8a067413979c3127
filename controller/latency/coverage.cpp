#include "latency/coverage.h"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>

#include <fmt/format.h>

namespace gp::latency {

namespace {

bool attached(const AttachReport& r, std::string_view symbol, std::string_view program) {
  return std::any_of(r.probes.begin(), r.probes.end(), [&](const ProbeStatus& p) {
    return p.group == "latency" && p.attached && symbol == p.spec.symbol && program == p.spec.program;
  });
}

bool both(const AttachReport& r, std::string_view symbol, std::string_view entry, std::string_view ret) {
  return attached(r, symbol, entry) && attached(r, symbol, ret);
}

}  // namespace

Coverage coverage(const AttachReport& r) {
  Coverage c;
  c.hws = both(r, "unmap_queues_cpsch", "unmap_queues_entry", "unmap_queues_return");
  c.mes = both(r, "mes_v11_0_remove_hw_queue", "mes_remove_entry", "mes_remove_return") ||
          both(r, "mes_v12_0_remove_hw_queue", "mes_remove_entry", "mes_remove_return") ||
          both(r, "mes_v12_1_remove_hw_queue", "mes_remove_entry", "mes_remove_return") ||
          both(r, "suspend_all_queues_mes", "mes_suspend_all_entry", "mes_suspend_all_return");

  // A symbol counts as attached only when all its programs are.
  std::map<std::string, bool> all_attached;
  std::map<std::string, std::string> why;
  for (const auto& p : r.probes) {
    if (p.group != "latency") continue;
    auto [it, fresh] = all_attached.try_emplace(p.spec.symbol, true);
    it->second = it->second && p.attached;
    if (!p.attached && !why.count(p.spec.symbol))
      why[p.spec.symbol] = p.error.empty() ? std::string("not attached") : p.error;
  }
  for (const auto& [sym, ok] : all_attached) {
    if (ok) c.attached.push_back(sym);
    else c.absent.emplace_back(sym, why[sym]);
  }
  if (!c.hws) return c;

  // The BPF side marks a span "no packet" when T1 never happened, so without
  // the T1 probe every HWS span would wrongly read as an early return.
  if (!both(r, "pm_send_unmap_queue", "send_unmap_entry", "send_unmap_return"))
    c.warnings.emplace_back(
        "pm_send_unmap_queue is not probed: T1/T2 are unknown, every HWS span reads \"without a packet\" and no "
        "phase is measured");
  else if (!attached(r, "amdkfd_fence_wait_timeout", "fence_wait_return"))
    c.warnings.emplace_back(
        "amdkfd_fence_wait_timeout is not probed: T3 is unknown, so the firmware+CWSR and post-check phases are "
        "not measured");
  if (!both(r, "map_queues_cpsch", "map_queues_entry", "map_queues_return"))
    c.warnings.emplace_back("map_queues_cpsch is not probed: the remap submission is not measured");
  // Victims are the runlist recorded at its upload: without that probe no
  // HWS span can list them (each reads "victims unknown").
  if (!attached(r, "pm_send_runlist", "runlist_entry"))
    c.warnings.emplace_back("pm_send_runlist is not probed: HWS victims (the queues each preemption hit) are not listed");
  return c;
}

}  // namespace gp::latency
