#include "probes.h"

#include <array>

#include <fmt/format.h>

namespace gp {

namespace {

constexpr const char* kDebugApi = "no KFD debugger API on this kernel (it arrived with KFD 1.13, Linux 6.5)";
constexpr const char* kAlways = "present in every supported kernel; its absence means an unsupported amdgpu build";

// {symbol, program, retprobe, required, timing_only_ok, purpose, if_missing}
constexpr std::array kLifecycle = {
    ProbeSpec{"kfd_procfs_add_queue", "kfd_procfs_add_queue", false, true, false,
              "queue created (every successful create, CRIU restore included)", kAlways},
    ProbeSpec{"uninit_queue", "uninit_queue", false, true, false,
              "queue freed (explicit destroy and process teardown)", kAlways},
    ProbeSpec{"kfd_procfs_queue_show", "kfd_procfs_queue_show", false, true, false,
              "start-up reconciliation of queues that already exist", kAlways},
    ProbeSpec{"pqm_uninit", "pqm_uninit_entry", false, true, false,
              "per-process sweep at teardown", kAlways},
    ProbeSpec{"pqm_uninit", "pqm_uninit_return", true, true, false,
              "per-process sweep at teardown", kAlways},
    ProbeSpec{"update_queue", "update_queue_entry", false, true, false,
              "property change (update ioctl, CU mask, GWS)", kAlways},
    ProbeSpec{"update_queue", "update_queue_return", true, true, false,
              "property change (update ioctl, CU mask, GWS)", kAlways},
    ProbeSpec{"evict_process_queues_cpsch", "evict_process_queues_entry", false, true, false,
              "eviction (HWS)", kAlways},
    ProbeSpec{"evict_process_queues_cpsch", "evict_process_queues_return", true, true, false,
              "eviction (HWS)", kAlways},
    ProbeSpec{"evict_process_queues_nocpsch", "evict_process_queues_entry", false, true, false,
              "eviction (NO_HWS)", kAlways},
    ProbeSpec{"evict_process_queues_nocpsch", "evict_process_queues_return", true, true, false,
              "eviction (NO_HWS)", kAlways},
    ProbeSpec{"restore_process_queues_cpsch", "restore_process_queues_entry", false, true, false,
              "restore after eviction (HWS)", kAlways},
    ProbeSpec{"restore_process_queues_cpsch", "restore_process_queues_return", true, true, false,
              "restore after eviction (HWS)", kAlways},
    ProbeSpec{"restore_process_queues_nocpsch", "restore_process_queues_entry", false, true, false,
              "restore after eviction (NO_HWS)", kAlways},
    ProbeSpec{"restore_process_queues_nocpsch", "restore_process_queues_return", true, true, false,
              "restore after eviction (NO_HWS)", kAlways},
    ProbeSpec{"process_termination_cpsch", "process_termination_entry", false, true, false,
              "process teardown unmaps its queues (HWS)", kAlways},
    ProbeSpec{"process_termination_cpsch", "process_termination_return", true, true, false,
              "process teardown unmaps its queues (HWS)", kAlways},
    ProbeSpec{"process_termination_nocpsch", "process_termination_entry", false, true, false,
              "process teardown unmaps its queues (NO_HWS)", kAlways},
    ProbeSpec{"process_termination_nocpsch", "process_termination_return", true, true, false,
              "process teardown unmaps its queues (NO_HWS)", kAlways},
    ProbeSpec{"suspend_queues", "suspend_queues_entry", false, false, false,
              "debugger suspend (DBG_TRAP SUSPEND_QUEUES)", kDebugApi},
    ProbeSpec{"suspend_queues", "suspend_queues_return", true, false, false,
              "debugger suspend (DBG_TRAP SUSPEND_QUEUES)", kDebugApi},
    ProbeSpec{"resume_queues", "resume_queues_entry", false, false, false,
              "debugger resume (DBG_TRAP RESUME_QUEUES, DISABLE)", kDebugApi},
    ProbeSpec{"resume_queues", "resume_queues_return", true, false, false,
              "debugger resume (DBG_TRAP RESUME_QUEUES, DISABLE)", kDebugApi},
    ProbeSpec{"kfd_ioctl_create_queue", "ioctl_create_queue_entry", false, true, false,
              "CREATE_QUEUE: requested values and failures", kAlways},
    ProbeSpec{"kfd_ioctl_create_queue", "ioctl_create_queue_return", true, true, false,
              "CREATE_QUEUE: requested values and failures", kAlways},
    ProbeSpec{"kfd_ioctl_destroy_queue", "ioctl_destroy_queue_entry", false, true, false,
              "DESTROY_QUEUE: begin (suspended queues block it) and result", kAlways},
    ProbeSpec{"kfd_ioctl_destroy_queue", "ioctl_destroy_queue_return", true, true, false,
              "DESTROY_QUEUE: begin (suspended queues block it) and result", kAlways},
    ProbeSpec{"kfd_ioctl_update_queue", "ioctl_update_queue_entry", false, true, false,
              "UPDATE_QUEUE: requested values and failures", kAlways},
    ProbeSpec{"kfd_ioctl_update_queue", "ioctl_update_queue_return", true, true, false,
              "UPDATE_QUEUE: requested values and failures", kAlways},
    ProbeSpec{"kfd_ioctl_set_debug_trap", "ioctl_dbg_trap_entry", false, false, false,
              "DBG_TRAP operations (enable, suspend, resume, ...)", kDebugApi},
    ProbeSpec{"kfd_ioctl_set_debug_trap", "ioctl_dbg_trap_return", true, false, false,
              "DBG_TRAP operations (enable, suspend, resume, ...)", kDebugApi},
    ProbeSpec{"kfd_create_process", "kfd_create_process_return", true, true, false,
              "KFD process created (first /dev/kfd open)", kAlways},
    ProbeSpec{"kfd_process_notifier_release", "kfd_process_notifier_release", false, true, false,
              "KFD process exit begins (mm teardown)", kAlways},
    ProbeSpec{"kfd_process_wq_release", "kfd_process_wq_release", false, true, false,
              "KFD process freed", kAlways},
};

}  // namespace

std::span<const ProbeSpec> lifecycle_probes() { return kLifecycle; }

std::unordered_set<std::string> probe_symbols() {
  std::unordered_set<std::string> out;
  for (const auto& p : kLifecycle) out.insert(p.symbol);
  return out;
}

}  // namespace gp

namespace gp {

AttachReport plan_lifecycle_attach(const Kallsyms& ks, const std::string& kernel) {
  AttachReport report;
  report.kernel = kernel;
  for (const ProbeSpec& spec : lifecycle_probes()) {
    ProbeStatus st;
    st.spec = spec;
    SymbolLookup l = ks.resolve(spec.symbol);
    st.resolution = l.resolution;
    st.address = l.address;
    st.resolved_name = l.name;
    if (l.resolution == Resolution::Clone && !spec.timing_only_ok) {
      st.resolution = Resolution::Missing;
      st.error = fmt::format("only {} exists: a clone may take other arguments, not probed", l.name);
    } else if (l.resolution == Resolution::Missing) {
      st.error = spec.required ? l.note : spec.if_missing;
    }
    report.probes.push_back(std::move(st));
  }
  return report;
}

}  // namespace gp
