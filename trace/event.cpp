#include "trace/event.h"

#include <array>
#include <cerrno>
#include <cstring>

#include "bpf/kfd_uapi.h"

namespace gp {

namespace {

constexpr std::array<std::string_view, GP_EV_KIND_MAX> kKindNames = {
    "none",          "queue_add",      "queue_remove",   "queue_snapshot",
    "queue_state",   "process_sweep",  "qpd_terminate",  "ioctl_create_queue",
    "ioctl_destroy_queue", "ioctl_update_queue", "ioctl_dbg_trap",
    "process_create", "process_release", "process_free", "preempt",
    "preempt_victim", "ioctl_destroy_begin", "kfd_ioctl",
};

constexpr std::array<std::string_view, GP_CAUSE_MAX> kCauseNames = {
    "none",    "create",     "destroy",     "update",      "evict",
    "restore", "terminate",  "dbg_suspend", "dbg_resume",  "dbg_refresh",
    "halt",    "unhalt",     "stop",        "start",       "reset",
    "dbg_watch", "dbg_vmid_reserve", "dbg_vmid_release", "gfx_userq", "bad_queue",
};

constexpr std::array<std::string_view, 6> kQueueTypeNames = {
    "compute", "sdma", "hiq", "diq", "sdma_xgmi", "sdma_by_eng_id",
};

}  // namespace

std::uint16_t event_context(const Event& ev) {
  if (ev.has_queue()) return ev.raw.q.context_id;
  switch (ev.kind()) {
    case EventKind::ProcessSweep:
    case EventKind::QpdTerminate:
    case EventKind::ProcessCreate:
    case EventKind::ProcessRelease:
    case EventKind::ProcessFree:
      // Every process record the BPF side fills names its context; a failed
      // kfd_create_process has no process (proc_kptr 0) and is the caller's.
      return ev.raw.proc.proc_kptr ? ev.raw.proc.context_id : static_cast<std::uint16_t>(GP_CONTEXT_PRIMARY);
    case EventKind::IoctlCreateQueue:
    case EventKind::IoctlDestroyQueue:
    case EventKind::IoctlUpdateQueue:
    case EventKind::IoctlDbgTrap:
    case EventKind::IoctlDestroyBegin:
      return (ev.raw.ev_flags & GP_EVF_SECONDARY) ? ev.raw.io.context_id
                                                  : static_cast<std::uint16_t>(GP_CONTEXT_PRIMARY);
    default:
      return GP_CONTEXT_PRIMARY;
  }
}

std::string_view Event::comm() const {
  return {raw.comm, strnlen(raw.comm, GP_COMM_LEN)};
}

DecodeResult decode(const void* data, std::size_t size) {
  DecodeResult r;
  if (size < sizeof(gp_event)) {
    r.error = size < offsetof(gp_event, comm) ? DecodeError::Truncated : DecodeError::WrongSize;
    return r;
  }
  if (size != sizeof(gp_event)) {
    r.error = DecodeError::WrongSize;
    return r;
  }
  Event ev;
  std::memcpy(&ev.raw, data, sizeof(gp_event));
  if (ev.raw.kind == GP_EV_NONE || ev.raw.kind >= GP_EV_KIND_MAX) {
    r.error = DecodeError::UnknownKind;
    return r;
  }
  if (ev.raw.cause >= GP_CAUSE_MAX) {
    r.error = DecodeError::BadPayload;
    return r;
  }
  if (ev.kind() == EventKind::KfdIoctl && ev.raw.kio.data_len > GP_KFD_IOCTL_DATA) {
    r.error = DecodeError::BadPayload;
    return r;
  }
  if (ev.has_queue()) {
    const auto& q = ev.raw.q;
    if ((q.type > GP_QTYPE_SDMA_BY_ENG_ID && q.type != GP_QTYPE_UNKNOWN) || q.format > GP_QFMT_AQL ||
        q.priority > 15 || q.percent > 100) {
      r.error = DecodeError::BadPayload;
      return r;
    }
  }
  ev.raw.comm[GP_COMM_LEN - 1] = '\0';
  r.event = ev;
  return r;
}

std::uint32_t ioctl_fields(const gp_event& raw) {
  constexpr std::uint32_t kQueueArgs = kIoPriority | kIoPercent | kIoRingAddr | kIoRingSize;
  switch (static_cast<EventKind>(raw.kind)) {
    case EventKind::IoctlCreateQueue: return kIoQid | kIoGpuId | kIoQueueType | kQueueArgs;
    case EventKind::IoctlUpdateQueue: return kIoQid | kQueueArgs;
    case EventKind::IoctlDestroyBegin:
    case EventKind::IoctlDestroyQueue: return kIoQid;
    case EventKind::IoctlDbgTrap: {
      const std::uint32_t common = kIoDbgOp | kIoDbgTargetPid | (raw.io.dbg_target_tgid ? kIoDbgTargetTgid : 0);
      switch (raw.io.dbg_op) {
        case GP_KFD_DBG_TRAP_ENABLE: return common | kIoArg0;
        case GP_KFD_DBG_TRAP_SUSPEND_QUEUES: return common | kIoDbgNumQueues | kIoDbgGrace | kIoArg0;
        case GP_KFD_DBG_TRAP_RESUME_QUEUES: return common | kIoDbgNumQueues;
        case GP_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT: return common | kIoDbgNumQueues | kIoArg0;
      }
      return common;
    }
    default: return 0;
  }
}

std::string_view to_string(EventKind k) {
  auto i = static_cast<std::size_t>(k);
  return i < kKindNames.size() ? kKindNames[i] : "unknown";
}

std::string_view to_string(Cause c) {
  auto i = static_cast<std::size_t>(c);
  return i < kCauseNames.size() ? kCauseNames[i] : "unknown";
}

std::string_view to_string(DecodeError e) {
  switch (e) {
    case DecodeError::Truncated: return "truncated record";
    case DecodeError::WrongSize: return "record size does not match this build's event ABI";
    case DecodeError::UnknownKind: return "unknown event kind";
    case DecodeError::BadPayload: return "payload out of range";
  }
  return "unknown error";
}

std::optional<EventKind> event_kind_from_string(std::string_view s) {
  for (std::size_t i = 1; i < kKindNames.size(); ++i)
    if (kKindNames[i] == s) return static_cast<EventKind>(i);
  return std::nullopt;
}

std::optional<Cause> cause_from_string(std::string_view s) {
  for (std::size_t i = 0; i < kCauseNames.size(); ++i)
    if (kCauseNames[i] == s) return static_cast<Cause>(i);
  return std::nullopt;
}

std::string_view queue_type_name(std::uint8_t t) {
  return t < kQueueTypeNames.size() ? kQueueTypeNames[t] : "unknown";
}

std::optional<std::uint8_t> queue_type_from_name(std::string_view s) {
  for (std::size_t i = 0; i < kQueueTypeNames.size(); ++i)
    if (kQueueTypeNames[i] == s) return static_cast<std::uint8_t>(i);
  if (s == "unknown") return GP_QTYPE_UNKNOWN;
  return std::nullopt;
}

std::string_view queue_format_name(std::uint8_t f) {
  return f == GP_QFMT_AQL ? "aql" : f == GP_QFMT_PM4 ? "pm4" : "unknown";
}

std::string_view ioctl_queue_type_name(std::uint32_t t) {
  switch (t) {
    case GP_KFD_QUEUE_TYPE_COMPUTE: return "compute";
    case GP_KFD_QUEUE_TYPE_SDMA: return "sdma";
    case GP_KFD_QUEUE_TYPE_COMPUTE_AQL: return "compute_aql";
    case GP_KFD_QUEUE_TYPE_SDMA_XGMI: return "sdma_xgmi";
    case GP_KFD_QUEUE_TYPE_SDMA_BY_ENG_ID: return "sdma_by_eng_id";
  }
  return "unknown";
}

std::string_view dbg_trap_op_name(std::uint32_t op) {
  static constexpr std::array<std::string_view, 15> names = {
      "enable",          "disable",          "send_runtime_event", "set_exceptions_enabled",
      "set_wave_launch_override", "set_wave_launch_mode", "suspend_queues", "resume_queues",
      "set_node_address_watch", "clear_node_address_watch", "set_flags", "query_debug_event",
      "query_exception_info", "get_queue_snapshot", "get_device_snapshot",
  };
  return op < names.size() ? names[op] : "unknown";
}

std::string_view kfd_ioctl_name(std::uint32_t nr) {
  // uapi kfd_ioctl.h, AMDKFD_IOC_* by number (0x01 .. AMDKFD_COMMAND_END - 1).
  static constexpr std::array<std::string_view, 0x29> names = {
      "",
      "GET_VERSION",
      "CREATE_QUEUE",
      "DESTROY_QUEUE",
      "SET_MEMORY_POLICY",
      "GET_CLOCK_COUNTERS",
      "GET_PROCESS_APERTURES",
      "UPDATE_QUEUE",
      "CREATE_EVENT",
      "DESTROY_EVENT",
      "SET_EVENT",
      "RESET_EVENT",
      "WAIT_EVENTS",
      "DBG_REGISTER_DEPRECATED",
      "DBG_UNREGISTER_DEPRECATED",
      "DBG_ADDRESS_WATCH_DEPRECATED",
      "DBG_WAVE_CONTROL_DEPRECATED",
      "SET_SCRATCH_BACKING_VA",
      "GET_TILE_CONFIG",
      "SET_TRAP_HANDLER",
      "GET_PROCESS_APERTURES_NEW",
      "ACQUIRE_VM",
      "ALLOC_MEMORY_OF_GPU",
      "FREE_MEMORY_OF_GPU",
      "MAP_MEMORY_TO_GPU",
      "UNMAP_MEMORY_FROM_GPU",
      "SET_CU_MASK",
      "GET_QUEUE_WAVE_STATE",
      "GET_DMABUF_INFO",
      "IMPORT_DMABUF",
      "ALLOC_QUEUE_GWS",
      "SMI_EVENTS",
      "SVM",
      "SET_XNACK_MODE",
      "CRIU_OP",
      "AVAILABLE_MEMORY",
      "EXPORT_DMABUF",
      "RUNTIME_ENABLE",
      "DBG_TRAP",
      "CREATE_PROCESS",
      "PROFILER",
  };
  return nr > 0 && nr < names.size() ? names[nr] : "unknown";
}

bool kfd_ioctl_known(std::uint32_t cmd) {
  return ((cmd >> 8) & 0xff) == 'K' && kfd_ioctl_name(cmd & 0xff) != "unknown";
}

std::vector<KfdIoctlField> kfd_ioctl_fields(const gp_kfd_ioctl_info& k) {
  using F = KfdIoctlField::Fmt;
  struct Layout {
    const char* name;
    std::uint32_t offset, width;
    F fmt;
  };
  // The uapi argument structs (kfd_ioctl.h), field by field.
  static const std::array<std::pair<std::uint32_t, std::vector<Layout>>, 9> layouts = {{
      {0x01, {{"major_version", 0, 4, F::Dec}, {"minor_version", 4, 4, F::Dec}}},
      {0x05,
       {{"gpu_clock_counter", 0, 8, F::Dec}, {"cpu_clock_counter", 8, 8, F::Dec},
        {"system_clock_counter", 16, 8, F::Dec}, {"system_clock_freq", 24, 8, F::Dec}, {"gpu_id", 32, 4, F::Dec}}},
      {0x08,
       {{"event_page_offset", 0, 8, F::Hex}, {"event_trigger_data", 8, 4, F::Dec}, {"event_type", 12, 4, F::Dec},
        {"auto_reset", 16, 4, F::Dec}, {"node_id", 20, 4, F::Dec}, {"event_id", 24, 4, F::Dec},
        {"event_slot_index", 28, 4, F::Dec}}},
      {0x09, {{"event_id", 0, 4, F::Dec}}},
      {0x0A, {{"event_id", 0, 4, F::Dec}}},
      {0x0C,
       {{"events_ptr", 0, 8, F::Hex}, {"num_events", 8, 4, F::Dec}, {"wait_for_all", 12, 4, F::Dec},
        {"timeout", 16, 4, F::Dec}, {"wait_result", 20, 4, F::Dec}}},
      {0x14, {{"kfd_process_device_apertures_ptr", 0, 8, F::Hex}, {"num_of_nodes", 8, 4, F::Dec}}},
      {0x21, {{"xnack_enabled", 0, 4, F::Signed}}},
      {0x25, {{"r_debug", 0, 8, F::Hex}, {"mode_mask", 8, 4, F::Hex}, {"capabilities_mask", 12, 4, F::Hex}}},
  }};
  std::vector<KfdIoctlField> out;
  if (!kfd_ioctl_known(k.cmd)) return out;
  for (const auto& [nr, fields] : layouts) {
    if (nr != (k.cmd & 0xff)) continue;
    for (const auto& f : fields) {
      if (f.offset + f.width > k.data_len) return {};
      std::uint64_t v = 0;
      std::memcpy(&v, k.data + f.offset, f.width);  // little-endian, like the kernel
      if (f.fmt == F::Signed && f.width == 4) v = static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int32_t>(v)));
      out.push_back({f.name, v, f.fmt});
    }
  }
  return out;
}

std::string queue_flags_string(std::uint8_t flags) {
  static constexpr std::array<std::string_view, 8> names = {
      "active", "evicted", "suspended", "being_destroyed", "gws", "reset", "dbg_wa", "new",
  };
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!(flags & (1u << i))) continue;
    if (!out.empty()) out += '|';
    out += names[i];
  }
  return out.empty() ? "-" : out;
}

std::string errno_name(int ret) {
  if (ret >= 0) return std::to_string(ret);
  const char* name = strerrorname_np(-ret);
  return name ? std::string("-") + name : std::to_string(ret);
}

}  // namespace gp
