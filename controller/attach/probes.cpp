#include "attach/probes.h"

#include <array>

#include <fmt/format.h>

namespace gp {

namespace {

constexpr const char* kDebugApi = "no KFD debugger API on this kernel (it arrived with KFD 1.13, Linux 6.5)";
constexpr const char* kAlways = "present in every supported kernel; its absence means an unsupported amdgpu build";

// {symbol, program, retprobe, required, timing_only_ok, purpose, if_missing[, tramp_program, tramp]}
constexpr std::array kLifecycle = {
    ProbeSpec{"kfd_procfs_add_queue", "kfd_procfs_add_queue", false, true, false,
              "queue created (every successful create, CRIU restore included)", kAlways},
    ProbeSpec{"uninit_queue", "uninit_queue", false, true, false,
              "queue freed (explicit destroy and process teardown)", kAlways},
    ProbeSpec{"kfd_procfs_queue_show", "kfd_procfs_queue_show", false, true, false,
              "start-up reconciliation of queues that already exist", kAlways},
    ProbeSpec{"pqm_uninit", "pqm_uninit_entry", false, true, false,
              "per-process sweep at teardown", kAlways, "pqm_uninit_fexit", Mechanism::Fexit},
    ProbeSpec{"pqm_uninit", "pqm_uninit_return", true, true, false,
              "per-process sweep at teardown", kAlways, "pqm_uninit_fexit", Mechanism::Fexit},
    ProbeSpec{"update_queue", "update_queue_entry", false, true, false,
              "property change (update ioctl, CU mask, GWS)", kAlways, "update_queue_fexit", Mechanism::Fexit},
    ProbeSpec{"update_queue", "update_queue_return", true, true, false,
              "property change (update ioctl, CU mask, GWS)", kAlways, "update_queue_fexit", Mechanism::Fexit},
    ProbeSpec{"evict_process_queues_cpsch", "evict_process_queues_entry", false, true, false,
              "eviction (HWS)", kAlways, "evict_process_queues_cpsch_fexit", Mechanism::Fexit},
    ProbeSpec{"evict_process_queues_cpsch", "evict_process_queues_return", true, true, false,
              "eviction (HWS)", kAlways, "evict_process_queues_cpsch_fexit", Mechanism::Fexit},
    ProbeSpec{"evict_process_queues_nocpsch", "evict_process_queues_entry", false, true, false,
              "eviction (NO_HWS)", kAlways, "evict_process_queues_nocpsch_fexit", Mechanism::Fexit},
    ProbeSpec{"evict_process_queues_nocpsch", "evict_process_queues_return", true, true, false,
              "eviction (NO_HWS)", kAlways, "evict_process_queues_nocpsch_fexit", Mechanism::Fexit},
    ProbeSpec{"restore_process_queues_cpsch", "restore_process_queues_entry", false, true, false,
              "restore after eviction (HWS)", kAlways, "restore_process_queues_cpsch_fexit", Mechanism::Fexit},
    ProbeSpec{"restore_process_queues_cpsch", "restore_process_queues_return", true, true, false,
              "restore after eviction (HWS)", kAlways, "restore_process_queues_cpsch_fexit", Mechanism::Fexit},
    ProbeSpec{"restore_process_queues_nocpsch", "restore_process_queues_entry", false, true, false,
              "restore after eviction (NO_HWS)", kAlways, "restore_process_queues_nocpsch_fexit", Mechanism::Fexit},
    ProbeSpec{"restore_process_queues_nocpsch", "restore_process_queues_return", true, true, false,
              "restore after eviction (NO_HWS)", kAlways, "restore_process_queues_nocpsch_fexit", Mechanism::Fexit},
    ProbeSpec{"process_termination_cpsch", "process_termination_entry", false, true, false,
              "process teardown unmaps its queues (HWS)", kAlways, "process_termination_cpsch_fentry", Mechanism::Fentry},
    ProbeSpec{"process_termination_cpsch", "process_termination_return", true, true, false,
              "process teardown unmaps its queues (HWS)", kAlways, "process_termination_cpsch_fexit", Mechanism::Fexit},
    ProbeSpec{"process_termination_nocpsch", "process_termination_entry", false, true, false,
              "process teardown unmaps its queues (NO_HWS)", kAlways, "process_termination_nocpsch_fentry", Mechanism::Fentry},
    ProbeSpec{"process_termination_nocpsch", "process_termination_return", true, true, false,
              "process teardown unmaps its queues (NO_HWS)", kAlways, "process_termination_nocpsch_fexit", Mechanism::Fexit},
    ProbeSpec{"suspend_queues", "suspend_queues_entry", false, false, false,
              "debugger suspend (DBG_TRAP SUSPEND_QUEUES)", kDebugApi, "suspend_queues_fexit", Mechanism::Fexit},
    ProbeSpec{"suspend_queues", "suspend_queues_return", true, false, false,
              "debugger suspend (DBG_TRAP SUSPEND_QUEUES)", kDebugApi, "suspend_queues_fexit", Mechanism::Fexit},
    ProbeSpec{"resume_queues", "resume_queues_entry", false, false, false,
              "debugger resume (DBG_TRAP RESUME_QUEUES, DISABLE)", kDebugApi, "resume_queues_fexit", Mechanism::Fexit},
    ProbeSpec{"resume_queues", "resume_queues_return", true, false, false,
              "debugger resume (DBG_TRAP RESUME_QUEUES, DISABLE)", kDebugApi, "resume_queues_fexit", Mechanism::Fexit},
    ProbeSpec{"kfd_ioctl_create_queue", "ioctl_create_queue_entry", false, true, false,
              "CREATE_QUEUE: requested values and failures", kAlways, "ioctl_create_queue_fexit", Mechanism::Fexit},
    ProbeSpec{"kfd_ioctl_create_queue", "ioctl_create_queue_return", true, true, false,
              "CREATE_QUEUE: requested values and failures", kAlways, "ioctl_create_queue_fexit", Mechanism::Fexit},
    ProbeSpec{"kfd_ioctl_destroy_queue", "ioctl_destroy_queue_entry", false, true, false,
              "DESTROY_QUEUE: begin (suspended queues block it) and result", kAlways, "ioctl_destroy_queue_fentry", Mechanism::Fentry},
    ProbeSpec{"kfd_ioctl_destroy_queue", "ioctl_destroy_queue_return", true, true, false,
              "DESTROY_QUEUE: begin (suspended queues block it) and result", kAlways, "ioctl_destroy_queue_fexit", Mechanism::Fexit},
    ProbeSpec{"kfd_ioctl_update_queue", "ioctl_update_queue_entry", false, true, false,
              "UPDATE_QUEUE: requested values and failures", kAlways, "ioctl_update_queue_fexit", Mechanism::Fexit},
    ProbeSpec{"kfd_ioctl_update_queue", "ioctl_update_queue_return", true, true, false,
              "UPDATE_QUEUE: requested values and failures", kAlways, "ioctl_update_queue_fexit", Mechanism::Fexit},
    ProbeSpec{"kfd_ioctl_set_debug_trap", "ioctl_dbg_trap_entry", false, false, false,
              "DBG_TRAP operations (enable, suspend, resume, ...)", kDebugApi, "ioctl_dbg_trap_fexit", Mechanism::Fexit},
    ProbeSpec{"kfd_ioctl_set_debug_trap", "ioctl_dbg_trap_return", true, false, false,
              "DBG_TRAP operations (enable, suspend, resume, ...)", kDebugApi, "ioctl_dbg_trap_fexit", Mechanism::Fexit},
    ProbeSpec{"kfd_create_process", "kfd_create_process_return", true, true, false,
              "KFD process created (first /dev/kfd open)", kAlways, "kfd_create_process_fexit", Mechanism::Fexit},
    ProbeSpec{"kfd_process_notifier_release", "kfd_process_notifier_release", false, true, false,
              "KFD process exit begins (mm teardown)", kAlways},
    ProbeSpec{"kfd_process_wq_release", "kfd_process_wq_release", false, true, false,
              "KFD process freed", kAlways},
};

// watch --ioctls: every /dev/kfd ioctl at the dispatcher, whatever the
// command. Only planned when asked for; then required.
constexpr std::array kIoctls = {
    ProbeSpec{"kfd_ioctl", "kfd_ioctl_entry", false, true, false,
              "every /dev/kfd ioctl: command, caller, argument, result (watch --ioctls)", kAlways, "kfd_ioctl_fexit",
              Mechanism::Fexit},
    ProbeSpec{"kfd_ioctl", "kfd_ioctl_return", true, true, false,
              "every /dev/kfd ioctl: command, caller, argument, result (watch --ioctls)", kAlways, "kfd_ioctl_fexit",
              Mechanism::Fexit},
};

constexpr const char* kLatencyOpt = "optional: without it that cause or phase of a preemption is not recorded";
constexpr const char* kMes = "only MES GPUs (GC 11/12) use it; absent from older kernels";
constexpr const char* kMes121 = "only MES GC 12.1 uses it; first in 7.2";
constexpr const char* kMesAll = "MES suspend/resume of every queue: in 6.12 and 7.2 (absent in 6.1, removed in 7.3)";
constexpr const char* kNew = "added after 6.1 (halt/refresh/debugger paths)";
constexpr const char* kUserq = "amdgpu graphics user queues (mes_userqueue.c) arrived in 7.x";
constexpr const char* kEvictPasid = "6.1 and 6.12 only: 7.x evicts per device (kfd_evict_process_device, no MES suspend)";
constexpr const char* kBadQueue = "MES bad-opcode handling: 6.12 on";
constexpr const char* kHqdReset = "per-queue reset of a hung HWS queue: 6.12 on (GC 9 only)";
constexpr const char* kSetReset =
    "7.2 on; 6.12 inlines it into unmap_queues_cpsch (kgd_gfx_v9_hqd_reset stands in); none in 6.1";

// The preemption span (issue: in-kernel CWSR latency) and the cause stack.
// All optional: watch works without them. Timing-only probes (no argument,
// no return value read) may sit on a clone.
constexpr std::array kLatency = {
    ProbeSpec{"unmap_queues_cpsch", "unmap_queues_entry", false, false, false, "T0: HWS preemption starts (filter, grace)", kLatencyOpt},
    ProbeSpec{"unmap_queues_cpsch", "unmap_queues_return", true, false, false, "T4: HWS preemption done (return code)", kLatencyOpt},
    ProbeSpec{"pm_send_unmap_queue", "send_unmap_entry", false, false, true, "T1: UNMAP_QUEUES packet build starts", kLatencyOpt},
    ProbeSpec{"pm_send_unmap_queue", "send_unmap_return", true, false, true, "T2: packet handed to the HIQ", kLatencyOpt},
    ProbeSpec{"amdkfd_fence_wait_timeout", "fence_wait_return", true, false, false, "T3: firmware confirmed the preemption (CWSR done)", kLatencyOpt},
    ProbeSpec{"map_queues_cpsch", "map_queues_entry", false, false, true, "remap submission starts", kLatencyOpt},
    ProbeSpec{"map_queues_cpsch", "map_queues_return", true, false, true, "remap submitted", kLatencyOpt},
    ProbeSpec{"mes_v11_0_remove_hw_queue", "mes_remove_entry", false, false, false, "MES (GC 11) per-queue preemption", kMes},
    ProbeSpec{"mes_v11_0_remove_hw_queue", "mes_remove_return", true, false, false, "MES (GC 11) per-queue preemption", kMes},
    ProbeSpec{"mes_v12_0_remove_hw_queue", "mes_remove_entry", false, false, false, "MES (GC 12) per-queue preemption", kMes},
    ProbeSpec{"mes_v12_0_remove_hw_queue", "mes_remove_return", true, false, false, "MES (GC 12) per-queue preemption", kMes},
    ProbeSpec{"mes_v11_0_add_hw_queue", "mes_add_entry", false, false, false, "MES (GC 11) queue map", kMes},
    ProbeSpec{"mes_v11_0_add_hw_queue", "mes_add_return", true, false, false, "MES (GC 11) queue map", kMes},
    ProbeSpec{"mes_v12_0_add_hw_queue", "mes_add_entry", false, false, false, "MES (GC 12) queue map", kMes},
    ProbeSpec{"mes_v12_0_add_hw_queue", "mes_add_return", true, false, false, "MES (GC 12) queue map", kMes},
    ProbeSpec{"mes_v12_1_remove_hw_queue", "mes_remove_entry", false, false, false, "MES (GC 12.1) per-queue preemption", kMes121},
    ProbeSpec{"mes_v12_1_remove_hw_queue", "mes_remove_return", true, false, false, "MES (GC 12.1) per-queue preemption", kMes121},
    ProbeSpec{"mes_v12_1_add_hw_queue", "mes_add_entry", false, false, false, "MES (GC 12.1) queue map", kMes121},
    ProbeSpec{"mes_v12_1_add_hw_queue", "mes_add_return", true, false, false, "MES (GC 12.1) queue map", kMes121},
    ProbeSpec{"suspend_all_queues_mes", "mes_suspend_all_entry", false, false, false, "MES: every queue on the GPU preempted at once", kMesAll},
    ProbeSpec{"suspend_all_queues_mes", "mes_suspend_all_return", true, false, false, "MES: every queue on the GPU preempted at once", kMesAll},
    ProbeSpec{"resume_all_queues_mes", "mes_resume_all_entry", false, false, false, "MES: every queue on the GPU resumed at once", kMesAll},
    ProbeSpec{"resume_all_queues_mes", "mes_resume_all_return", true, false, false, "MES: every queue on the GPU resumed at once", kMesAll},
    ProbeSpec{"pm_send_runlist", "runlist_entry", false, false, false, "victims: the runlist handed to the firmware (HWS)", kLatencyOpt},
    ProbeSpec{"kgd_gfx_v9_hqd_reset", "hqd_reset_return", true, false, false, "a hung HWS queue reset inside an unmap (its state is re-read)", kHqdReset},
    ProbeSpec{"set_queue_as_reset", "queue_reset_entry", false, false, false, "a hung queue marked reset (its state is re-read)", kSetReset},
    ProbeSpec{"set_queue_as_reset", "queue_reset_return", true, false, false, "a hung queue marked reset (its state is re-read)", kSetReset},
    ProbeSpec{"create_queue_cpsch", "cause_create", false, false, false, "cause: queue create", kLatencyOpt},
    ProbeSpec{"create_queue_cpsch", "cause_create_ret", true, false, false, "cause: queue create", kLatencyOpt},
    ProbeSpec{"destroy_queue_cpsch", "cause_destroy", false, false, false, "cause: queue destroy", kLatencyOpt},
    ProbeSpec{"destroy_queue_cpsch", "cause_destroy_ret", true, false, false, "cause: queue destroy", kLatencyOpt},
    ProbeSpec{"update_queue", "cause_update", false, false, false, "cause: queue update", kLatencyOpt},
    ProbeSpec{"update_queue", "cause_update_ret", true, false, false, "cause: queue update", kLatencyOpt},
    ProbeSpec{"evict_process_queues_cpsch", "cause_evict", false, false, false, "cause: eviction", kLatencyOpt},
    ProbeSpec{"evict_process_queues_cpsch", "cause_evict_ret", true, false, false, "cause: eviction", kLatencyOpt},
    ProbeSpec{"kfd_process_evict_queues", "cause_evict_trigger", false, false, false, "cause: eviction trigger", kLatencyOpt},
    ProbeSpec{"kfd_process_evict_queues", "cause_evict_trigger_ret", true, false, false, "cause: eviction trigger", kLatencyOpt},
    ProbeSpec{"restore_process_queues_cpsch", "cause_restore", false, false, false, "cause: restore", kLatencyOpt},
    ProbeSpec{"restore_process_queues_cpsch", "cause_restore_ret", true, false, false, "cause: restore", kLatencyOpt},
    ProbeSpec{"process_termination_cpsch", "cause_terminate", false, false, false, "cause: process exit", kLatencyOpt},
    ProbeSpec{"process_termination_cpsch", "cause_terminate_ret", true, false, false, "cause: process exit", kLatencyOpt},
    ProbeSpec{"suspend_queues", "cause_dbg_suspend", false, false, false, "cause: debugger suspend", kDebugApi},
    ProbeSpec{"suspend_queues", "cause_dbg_suspend_ret", true, false, false, "cause: debugger suspend", kDebugApi},
    ProbeSpec{"resume_queues", "cause_dbg_resume", false, false, false, "cause: debugger resume", kDebugApi},
    ProbeSpec{"resume_queues", "cause_dbg_resume_ret", true, false, false, "cause: debugger resume", kDebugApi},
    ProbeSpec{"debug_refresh_runlist", "cause_dbg_refresh", false, false, false, "cause: debugger runlist refresh", kDebugApi},
    ProbeSpec{"debug_refresh_runlist", "cause_dbg_refresh_ret", true, false, false, "cause: debugger runlist refresh", kDebugApi},
    ProbeSpec{"halt_cpsch", "cause_halt", false, false, false, "cause: scheduler halt", kNew},
    ProbeSpec{"halt_cpsch", "cause_halt_ret", true, false, false, "cause: scheduler halt", kNew},
    ProbeSpec{"unhalt_cpsch", "cause_unhalt", false, false, false, "cause: scheduler unhalt", kNew},
    ProbeSpec{"unhalt_cpsch", "cause_unhalt_ret", true, false, false, "cause: scheduler unhalt", kNew},
    ProbeSpec{"stop_cpsch", "cause_stop", false, false, false, "cause: scheduler stop (suspend, reset)", kLatencyOpt},
    ProbeSpec{"stop_cpsch", "cause_stop_ret", true, false, false, "cause: scheduler stop (suspend, reset)", kLatencyOpt},
    ProbeSpec{"start_cpsch", "cause_start", false, false, false, "cause: scheduler start", kLatencyOpt},
    ProbeSpec{"start_cpsch", "cause_start_ret", true, false, false, "cause: scheduler start", kLatencyOpt},
    ProbeSpec{"debug_lock_and_unmap", "cause_dbg_watch", false, false, false, "cause: debugger address watch", kDebugApi},
    ProbeSpec{"debug_lock_and_unmap", "cause_dbg_watch_ret", true, false, false, "cause: debugger address watch", kDebugApi},
    ProbeSpec{"reserve_debug_trap_vmid", "cause_dbg_vmid_reserve", false, false, false, "cause: debugger reserves its VMID", kDebugApi},
    ProbeSpec{"reserve_debug_trap_vmid", "cause_dbg_vmid_reserve_ret", true, false, false, "cause: debugger reserves its VMID", kDebugApi},
    ProbeSpec{"release_debug_trap_vmid", "cause_dbg_vmid_release", false, false, false, "cause: debugger releases its VMID", kDebugApi},
    ProbeSpec{"release_debug_trap_vmid", "cause_dbg_vmid_release_ret", true, false, false, "cause: debugger releases its VMID", kDebugApi},
    ProbeSpec{"reset_queues_cpsch", "cause_reset", false, false, false, "cause: queue reset by pasid", kLatencyOpt},
    ProbeSpec{"reset_queues_cpsch", "cause_reset_ret", true, false, false, "cause: queue reset by pasid", kLatencyOpt},
    ProbeSpec{"kfd_dqm_evict_pasid", "cause_evict_pasid", false, false, false, "cause: eviction by pasid (MES suspends all around it)", kEvictPasid},
    ProbeSpec{"kfd_dqm_evict_pasid", "cause_evict_pasid_ret", true, false, false, "cause: eviction by pasid (MES suspends all around it)", kEvictPasid},
    ProbeSpec{"kfd_dqm_suspend_bad_queue_mes", "cause_bad_queue", false, false, false, "cause: MES evicts a queue that hit a bad opcode", kBadQueue},
    ProbeSpec{"kfd_dqm_suspend_bad_queue_mes", "cause_bad_queue_ret", true, false, false, "cause: MES evicts a queue that hit a bad opcode", kBadQueue},
    ProbeSpec{"mes_userq_map", "cause_gfx_userq_map", false, false, false, "cause: amdgpu graphics user queue map (not KFD)", kUserq},
    ProbeSpec{"mes_userq_map", "cause_gfx_userq_map_ret", true, false, false, "cause: amdgpu graphics user queue map (not KFD)", kUserq},
    ProbeSpec{"mes_userq_unmap", "cause_gfx_userq_unmap", false, false, false, "cause: amdgpu graphics user queue unmap (not KFD)", kUserq},
    ProbeSpec{"mes_userq_unmap", "cause_gfx_userq_unmap_ret", true, false, false, "cause: amdgpu graphics user queue unmap (not KFD)", kUserq},
};

AttachReport plan(std::span<const ProbeSpec> specs, const Kallsyms& ks, const std::string& kernel) {
  AttachReport report;
  report.kernel = kernel;
  for (const ProbeSpec& spec : specs) {
    ProbeStatus st;
    st.spec = spec;
    SymbolLookup l = ks.resolve(spec.symbol);
    st.resolution = l.resolution;
    st.address = l.address;
    st.resolved_name = l.name;
    st.mechanism = spec.retprobe ? Mechanism::Kretprobe : Mechanism::Kprobe;
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

}  // namespace

std::string_view to_string(Mechanism m) {
  switch (m) {
    case Mechanism::Kprobe: return "kprobe";
    case Mechanism::Kretprobe: return "kretprobe";
    case Mechanism::Fentry: return "fentry";
    case Mechanism::Fexit: return "fexit";
    case Mechanism::None: break;
  }
  return "none";
}

std::span<const ProbeSpec> lifecycle_probes() { return kLifecycle; }
std::span<const ProbeSpec> latency_probes() { return kLatency; }
std::span<const ProbeSpec> ioctl_probes() { return kIoctls; }

std::unordered_set<std::string> probe_symbols() {
  std::unordered_set<std::string> out;
  for (const auto& p : kLifecycle) out.insert(p.symbol);
  for (const auto& p : kLatency) out.insert(p.symbol);
  for (const auto& p : kIoctls) out.insert(p.symbol);
  return out;
}

AttachReport plan_lifecycle_attach(const Kallsyms& ks, const std::string& kernel) {
  return plan(kLifecycle, ks, kernel);
}

AttachReport plan_latency_attach(const Kallsyms& ks, const std::string& kernel) {
  return plan(kLatency, ks, kernel);
}

AttachReport plan_ioctl_attach(const Kallsyms& ks, const std::string& kernel) {
  return plan(kIoctls, ks, kernel);
}

}  // namespace gp

