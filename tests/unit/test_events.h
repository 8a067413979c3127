// Builders of synthetic events for the unit tests (no kernel involved).
#pragma once

#include <cstring>

#include "trace/event.h"

namespace gp::test {

inline Event queue_event(EventKind kind, std::uint32_t tgid, std::uint32_t qid, std::uint64_t kptr,
                         std::uint64_t proc = 0x1000, std::uint8_t flags = GP_QF_ACTIVE,
                         std::uint64_t ts = 1) {
  Event ev;
  ev.raw.kind = static_cast<std::uint32_t>(kind);
  ev.raw.ts_ns = ts;
  ev.raw.tgid = tgid;
  ev.raw.tid = tgid;
  ev.raw.acting_tgid = tgid;
  std::strncpy(ev.raw.comm, "python3", sizeof(ev.raw.comm));
  ev.raw.ev_flags = GP_EVF_HAS_QUEUE;
  ev.raw.q.queue_kptr = kptr;
  ev.raw.q.proc_kptr = proc;
  ev.raw.q.qid = qid;
  ev.raw.q.gpu_id = 41234;
  ev.raw.q.type = GP_QTYPE_COMPUTE;
  ev.raw.q.format = GP_QFMT_AQL;
  ev.raw.q.priority = 7;
  ev.raw.q.percent = 100;
  ev.raw.q.ring_size = 65536;
  ev.raw.q.ring_addr = 0x7f0000000000ull + qid * 0x10000;
  ev.raw.q.context_id = GP_CONTEXT_PRIMARY;
  ev.raw.q.flags = flags;
  return ev;
}

inline Event process_event(EventKind kind, std::uint32_t tgid, std::uint64_t proc, std::uint32_t gpu = 0) {
  Event ev;
  ev.raw.kind = static_cast<std::uint32_t>(kind);
  ev.raw.tgid = tgid;
  ev.raw.proc.proc_kptr = proc;
  ev.raw.proc.gpu_id = gpu;
  ev.raw.proc.context_id = GP_CONTEXT_PRIMARY;  // what the BPF side writes for a primary context
  return ev;
}

// An ioctl_* event of the owner tgid for qid, with the handler's return.
inline Event ioctl_event(EventKind kind, std::uint32_t tgid, std::uint32_t qid, int ret = 0) {
  Event ev;
  ev.raw.kind = static_cast<std::uint32_t>(kind);
  ev.raw.tgid = tgid;
  ev.raw.tid = tgid;
  ev.raw.acting_tgid = tgid;
  ev.raw.ret = ret;
  ev.raw.io.qid = qid;
  return ev;
}

}  // namespace gp::test
