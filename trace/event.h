// The version-free event model every layer above the decoder works with.
// An Event is the validated ring-buffer record (bpf/events.h) plus helpers;
// nothing here knows which kernel produced it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
  KfdIoctl = GP_EV_KFD_IOCTL,
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

// The KFD context an event belongs to: GP_CONTEXT_PRIMARY, or the id of a
// secondary context (kernels with AMDKFD_IOC_CREATE_PROCESS: the same tgid,
// its own kfd_process and qids; docs/kfd-internals.md §1). Queue records carry
// it in the queue payload, process records in the process payload; ioctl
// records carry it (GP_EVF_SECONDARY set) only when it is not the primary.
std::uint16_t event_context(const Event& ev);
inline bool from_primary_context(const Event& ev) { return event_context(ev) == GP_CONTEXT_PRIMARY; }

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

// The members of gp_ioctl_info an ioctl event carries, one bit each: what its
// handler in bpf/lifecycle.bpf.c fills; the rest of the struct stays 0.
//   ioctl_create_queue   qid gpu_id queue_type priority percent ring_addr ring_size
//   ioctl_update_queue   qid priority percent ring_addr ring_size
//   ioctl_destroy_begin, ioctl_destroy_queue   qid
//   ioctl_dbg_trap       dbg_op dbg_target_pid, dbg_target_tgid when known
//                        (non-zero), and what the op's args carry:
//                          enable              arg0 (exception mask)
//                          suspend_queues      dbg_num_queues dbg_grace arg0
//                          resume_queues       dbg_num_queues
//                          get_queue_snapshot  dbg_num_queues arg0
// Any other kind: none (it has no ioctl payload). One kIo* bit per field:
inline constexpr std::uint32_t kIoQid = 1u << 0;
inline constexpr std::uint32_t kIoGpuId = 1u << 1;
inline constexpr std::uint32_t kIoQueueType = 1u << 2;
inline constexpr std::uint32_t kIoPriority = 1u << 3;
inline constexpr std::uint32_t kIoPercent = 1u << 4;
inline constexpr std::uint32_t kIoRingAddr = 1u << 5;
inline constexpr std::uint32_t kIoRingSize = 1u << 6;
inline constexpr std::uint32_t kIoDbgOp = 1u << 7;
inline constexpr std::uint32_t kIoDbgTargetPid = 1u << 8;
inline constexpr std::uint32_t kIoDbgTargetTgid = 1u << 9;
inline constexpr std::uint32_t kIoDbgNumQueues = 1u << 10;
inline constexpr std::uint32_t kIoDbgGrace = 1u << 11;
inline constexpr std::uint32_t kIoArg0 = 1u << 12;
inline constexpr unsigned kIoctlFieldCount = 13;
std::uint32_t ioctl_fields(const gp_event& raw);

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
// A /dev/kfd ioctl command by its nr (uapi kfd_ioctl.h, AMDKFD_IOC_*): "GET_VERSION",
// "RUNTIME_ENABLE", ...; "unknown" for a number the upstream table does not have.
std::string_view kfd_ioctl_name(std::uint32_t nr);
// Whether cmd is a KFD request ('K') whose nr has a name.
bool kfd_ioctl_known(std::uint32_t cmd);
// The argument fields of a GP_EV_KFD_IOCTL whose command has a known layout
// (GET_VERSION, GET_CLOCK_COUNTERS, the event ioctls, GET_PROCESS_APERTURES_NEW,
// SET_XNACK_MODE, RUNTIME_ENABLE), read from its data, in uapi order; empty
// for other commands or when too few bytes were read.
struct KfdIoctlField {
  std::string_view name;
  std::uint64_t value;
  enum class Fmt { Dec, Hex, Signed } fmt;
};
std::vector<KfdIoctlField> kfd_ioctl_fields(const gp_kfd_ioctl_info& k);
std::string queue_flags_string(std::uint8_t flags);              // "active|evicted"
std::string errno_name(int ret);                                 // -22 -> "EINVAL"

}  // namespace gp
