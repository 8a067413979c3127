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
    "preempt_victim", "ioctl_destroy_begin",
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
