// One gp::Event <-> one JSON object. This is the schema of every event line in
// a trace file and of `watch --json`, so it is versioned with the trace format
// (trace/format.h: kTraceFormatVersion): change a key, bump the version.
// to_json writes the current version; event_from_json reads every version
// the reader accepts.
//
//   {"type":"event","ts_ns":..,"kind":"queue_add","cause":"create","pid":..,
//    "tid":..,"acting_pid":..,"comm":"..","ret":0,"aux":0,"flags":["has_queue"],
//    "queue":{...}}
//
// Exactly one payload object follows the common fields, chosen by
// payload_of(): "queue", "ioctl", "process", "preempt" or "kfd_ioctl" (watch
// --ioctls). The "ioctl" object holds only the fields that ioctl has
// (trace/event.h: ioctl_fields), e.g.
//   ioctl_destroy_queue  "ioctl":{"qid":3}
// 64-bit kernel and user addresses are hex strings ("0x7f12..."): JSON numbers
// are doubles in most readers and would silently lose the low bits.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "trace/event.h"
#include "trace/format.h"

namespace gp {

// A JSON value that is not a valid event. what() names the offending key,
// e.g. "queue.ring_addr: expected a hex string like \"0x1000\", got 4096".
class EventJsonError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Which union member of gp_event an event carries (and so which JSON object).
enum class Payload { Queue, Ioctl, Process, Preempt, KfdIoctl };

// GP_EVF_HAS_QUEUE always means "q is filled"; otherwise the kind decides.
// A preempt_victim carries its queue (HAS_QUEUE); it and its preempt share the
// top-level "seq" (trace/README section "preempt_victim").
Payload payload_of(const gp_event& raw);

// preempt and preempt_victim: the kinds whose gp_event.seq is written ("seq").
bool carries_seq(EventKind k);

nlohmann::json to_json(const Event& ev);

// Strict: every key the kind uses must be present with the right JSON type and
// range, and the result must pass gp::decode() like a ring-buffer record.
// `version` is the trace format version of the line (the file's header).
// Version 1 wrote every ioctl field for every ioctl: those lines are read as
// before, then the fields the ioctl does not have are dropped (0). Versions 1
// and 2 kept a preemption's seq in "preempt.seq" (32 bits) and a victim's in
// "aux": those lines are read into the same gp_event.seq. So every version of
// a trace reads into the same events. Throws EventJsonError.
Event event_from_json(const nlohmann::json& j, int version = trace::kTraceFormatVersion);

// The "queue" object alone (also used for the header's initial queue map).
nlohmann::json queue_to_json(const gp_queue_info& q);
gp_queue_info queue_from_json(const nlohmann::json& j);

// "0x1f" <-> 31. parse_hex_u64 throws EventJsonError naming `what`.
std::string hex_u64(std::uint64_t v);
std::uint64_t parse_hex_u64(const nlohmann::json& v, const std::string& what);

}  // namespace gp
