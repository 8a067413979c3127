// The version-free event model every layer above the decoder works with.
// An Event is the validated ring-buffer record (bpf/events.h) plus helpers;
// nothing here knows which kernel produced it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bpf/events.h"

namespace gp {

enum class EventKind : std::uint32_t {
  QueueAdd = GP_EV_QUEUE_ADD,
  QueueRemove = GP_EV_QUEUE_REMOVE,
  QueueSnapshot = GP_EV_QUEUE_SNAPSHOT,
  QueueState = GP_EV_QUEUE_STATE,
  ProcessSweep = GP_EV_PROCESS_SWEEP,
  QpdTerminate = GP_EV_QPD_TERMINATE,
  IoctlCreateQueue = GP_EV_IOCTL_CREATE_QUEUE,
  IoctlDestroyQueue = GP_EV_IOCTL_DESTROY_QUEUE,
  IoctlUpdateQueue = GP_EV_IOCTL_UPDATE_QUEUE,
  IoctlDbgTrap = GP_EV_IOCTL_DBG_TRAP,
  ProcessCreate = GP_EV_PROCESS_CREATE,
  ProcessRelease = GP_EV_PROCESS_RELEASE,
  ProcessFree = GP_EV_PROCESS_FREE,
  Preempt = GP_EV_PREEMPT,
  PreemptVictim = GP_EV_PREEMPT_VICTIM,
  IoctlDestroyBegin = GP_EV_IOCTL_DESTROY_BEGIN,
};

enum class Cause : std::uint32_t {
  None = GP_CAUSE_NONE,
  Create = GP_CAUSE_CREATE,
  Destroy = GP_CAUSE_DESTROY,
  Update = GP_CAUSE_UPDATE,
  Evict = GP_CAUSE_EVICT,
  Restore = GP_CAUSE_RESTORE,
  Terminate = GP_CAUSE_TERMINATE,
  DbgSuspend = GP_CAUSE_DBG_SUSPEND,
  DbgResume = GP_CAUSE_DBG_RESUME,
  DbgRefresh = GP_CAUSE_DBG_REFRESH,
  Halt = GP_CAUSE_HALT,
  Unhalt = GP_CAUSE_UNHALT,
  Stop = GP_CAUSE_STOP,
  Start = GP_CAUSE_START,
  Reset = GP_CAUSE_RESET,
  DbgWatch = GP_CAUSE_DBG_WATCH,
  DbgVmidReserve = GP_CAUSE_DBG_VMID_RESERVE,
  DbgVmidRelease = GP_CAUSE_DBG_VMID_RELEASE,
  GfxUserq = GP_CAUSE_GFX_USERQ,
  BadQueue = GP_CAUSE_BAD_QUEUE,
};

struct Event {
  gp_event raw{};

  EventKind kind() const { return static_cast<EventKind>(raw.kind); }
  Cause cause() const { return static_cast<Cause>(raw.cause); }
  std::string_view comm() const;
  bool has_queue() const { return (raw.ev_flags & GP_EVF_HAS_QUEUE) != 0; }
};

// Why a record was refused by decode().
enum class DecodeError { Truncated, WrongSize, UnknownKind, BadPayload };

struct DecodeResult {
  std::optional<Event> event;
  DecodeError error{};
};

// Validates one raw ring-buffer record. Never trusts the kernel side blindly:
// sizes, kinds and enum ranges are checked so a stale BPF object or a corrupt
// record is reported instead of silently mis-decoded.
DecodeResult decode(const void* data, std::size_t size);

std::string_view to_string(EventKind k);
std::string_view to_string(Cause c);
std::string_view to_string(DecodeError e);
std::optional<EventKind> event_kind_from_string(std::string_view s);
std::optional<Cause> cause_from_string(std::string_view s);

std::string_view queue_type_name(std::uint8_t gp_qtype);        // "compute", "sdma", ...
std::optional<std::uint8_t> queue_type_from_name(std::string_view s);
std::string_view queue_format_name(std::uint8_t gp_qfmt);       // "pm4", "aql"
std::string_view ioctl_queue_type_name(std::uint32_t kfd_ioc_type);  // uapi numbering
std::string_view dbg_trap_op_name(std::uint32_t op);
std::string queue_flags_string(std::uint8_t flags);              // "active|evicted"
std::string errno_name(int ret);                                 // -22 -> "EINVAL"

}  // namespace gp
