#include "tracing/event_text.h"

#include <map>

#include <fmt/format.h>

#include "base/proc.h"
#include "bpf/kfd_uapi.h"

namespace gp {

namespace {

constexpr const char* kRowFmt = "{:<10} {:<20} {:>7} {:<15} {:>4} {:>6} {:<13} {:>3} {:>3}  {:<22} {}";

std::string qid_str(std::uint32_t qid) { return qid == ~0u ? "-" : std::to_string(qid); }

// A secondary KFD context has its own qids: "3@c0" is its qid 3.
std::string with_context(std::string qid, std::uint16_t ctx) {
  return ctx == GP_CONTEXT_PRIMARY || qid == "-" ? qid : fmt::format("{}@c{}", qid, ctx);
}

std::string compact_qids(const std::vector<std::uint32_t>& qids) {
  // 5,6,7,8,12 -> "5-8,12": qid ranges, compact.
  std::string out;
  for (std::size_t i = 0; i < qids.size();) {
    std::size_t j = i;
    while (j + 1 < qids.size() && qids[j + 1] == qids[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j > i ? fmt::format("{}-{}", qids[i], qids[j]) : std::to_string(qids[i]);
    i = j + 1;
  }
  return out.empty() ? "-" : out;
}

}  // namespace

std::string event_text_header() {
  return fmt::format(fmt::runtime(kRowFmt), "TIME(s)", "EVENT", "PID", "COMM", "QID", "GPU", "TYPE",
                     "PRI", "PCT", "FLAGS/DETAIL", "RET");
}

std::string event_text_line(const Event& ev, std::uint64_t t0_ns, ProcessNames& names) {
  const auto& r = ev.raw;
  const double t = r.ts_ns >= t0_ns ? static_cast<double>(r.ts_ns - t0_ns) / 1e9 : 0.0;
  const std::string& comm = names.comm(r.tgid, ev.comm());
  std::string qid = "-", gpu = "-", type = "-", pri = "-", pct = "-", detail, ret = errno_name(r.ret);

  if (ev.has_queue()) {
    const auto& q = r.q;
    qid = std::to_string(q.qid);
    gpu = std::to_string(q.gpu_id);
    type = fmt::format("{}/{}", queue_type_name(q.type), queue_format_name(q.format));
    pri = std::to_string(q.priority);
    pct = std::to_string(q.percent);
    detail = queue_flags_string(q.flags);
    if (r.cause != GP_CAUSE_NONE && ev.kind() == EventKind::QueueState)
      detail += fmt::format(" ({})", to_string(ev.cause()));
  } else {
    switch (ev.kind()) {
      case EventKind::IoctlCreateQueue:
        qid = qid_str(r.io.qid);
        gpu = std::to_string(r.io.gpu_id);
        type = std::string(ioctl_queue_type_name(r.io.queue_type));
        pri = std::to_string(r.io.priority);
        pct = std::to_string(r.io.percent & 0xff);
        detail = fmt::format("ring={}", r.io.ring_size);
        break;
      case EventKind::IoctlUpdateQueue:
        qid = qid_str(r.io.qid);
        pri = std::to_string(r.io.priority);
        pct = std::to_string(r.io.percent & 0xff);
        detail = fmt::format("ring={}", r.io.ring_size);
        break;
      case EventKind::IoctlDestroyQueue:
      case EventKind::IoctlDestroyBegin:
        qid = qid_str(r.io.qid);
        if (ev.kind() == EventKind::IoctlDestroyBegin) ret = "-";
        break;
      case EventKind::IoctlDbgTrap:
        detail = fmt::format("{} target={}", dbg_trap_op_name(r.io.dbg_op), r.io.dbg_target_pid);
        if (r.io.dbg_op == GP_KFD_DBG_TRAP_SUSPEND_QUEUES || r.io.dbg_op == GP_KFD_DBG_TRAP_RESUME_QUEUES)
          detail += fmt::format(" n={}", r.io.dbg_num_queues);
        break;
      case EventKind::KfdIoctl: {
        const std::uint32_t nr = r.kio.cmd & 0xff;
        detail = kfd_ioctl_known(r.kio.cmd) ? std::string(kfd_ioctl_name(nr)) : fmt::format("cmd={:#x}", r.kio.cmd);
        for (const auto& f : kfd_ioctl_fields(r.kio)) {
          if (f.fmt == KfdIoctlField::Fmt::Hex) detail += fmt::format(" {}={:#x}", f.name, f.value);
          else if (f.fmt == KfdIoctlField::Fmt::Signed) detail += fmt::format(" {}={}", f.name, static_cast<std::int64_t>(f.value));
          else detail += fmt::format(" {}={}", f.name, f.value);
        }
        break;
      }
      case EventKind::ProcessCreate:
      case EventKind::ProcessRelease:
      case EventKind::ProcessFree:
        if (r.ev_flags & GP_EVF_HAS_PASID) detail = fmt::format("pasid={:#x}", r.proc.pasid);
        break;
      case EventKind::ProcessSweep:
        detail = "all queues of the process freed";
        break;
      case EventKind::QpdTerminate:
        gpu = std::to_string(r.proc.gpu_id);
        detail = fmt::format("{} queues unmapped", r.proc.queue_count);
        break;
      case EventKind::Preempt:
        gpu = std::to_string(r.pre.gpu_id);
        detail = fmt::format("{} {:.1f}us{}", to_string(ev.cause()), r.pre.total_ns / 1e3,
                             r.pre.packet_sent ? "" : " no-packet");
        break;
      default:
        break;
    }
  }
  if (detail.empty()) detail = "-";
  qid = with_context(std::move(qid), event_context(ev));
  return fmt::format(fmt::runtime(kRowFmt), fmt::format("{:.6f}", t), to_string(ev.kind()), r.tgid,
                     comm, qid, gpu, type, pri, pct, detail, ret);
}

std::vector<std::string> map_process_table(const QueueMap& map, ProcessNames& names) {
  struct Row {
    std::size_t queues = 0, active = 0, suspended = 0, evicted = 0;
    std::vector<std::uint32_t> qids;
  };
  std::map<std::uint32_t, Row> rows;
  for (const auto& e : map.all()) {
    Row& r = rows[e.tgid];
    ++r.queues;
    r.active += (e.info.flags & GP_QF_ACTIVE) != 0;
    r.suspended += (e.info.flags & GP_QF_SUSPENDED) != 0;
    r.evicted += (e.info.flags & GP_QF_EVICTED) != 0;
    r.qids.push_back(e.info.qid);
  }
  std::vector<std::string> out;
  out.push_back(fmt::format("{:>7} {:<15} {:>6} {:>6} {:>9} {:>7}  {}", "PID", "COMM", "QUEUES", "ACTIVE",
                            "SUSPENDED", "EVICTED", "QIDS"));
  for (auto& [pid, r] : rows)
    out.push_back(fmt::format("{:>7} {:<15} {:>6} {:>6} {:>9} {:>7}  {}", pid, names.comm(pid), r.queues,
                              r.active, r.suspended, r.evicted, compact_qids(r.qids)));
  return out;
}

std::vector<std::string> map_queue_table(const std::vector<QueueEntry>& queues, ProcessNames& names) {
  std::vector<std::string> out;
  constexpr const char* fmt_row = "{:>7} {:<15} {:>4} {:>6} {:<15} {:>3} {:>3} {:>9} {:>18} {:>8}  {:<10} {}";
  out.push_back(fmt::format(fmt::runtime(fmt_row), "PID", "COMM", "QID", "GPU", "TYPE", "PRI", "PCT",
                            "RING", "RING_ADDR", "DOORBELL", "ORIGIN", "FLAGS"));
  for (const auto& e : queues) {
    const auto& q = e.info;
    out.push_back(fmt::format(
        fmt::runtime(fmt_row), e.tgid, names.comm(e.tgid), with_context(std::to_string(q.qid), q.context_id),
        q.gpu_id,
        fmt::format("{}/{}", queue_type_name(q.type), queue_format_name(q.format)), q.priority, q.percent,
        q.ring_size, fmt::format("{:#x}", q.ring_addr), q.doorbell_off,
        e.origin == QueueOrigin::Reconciled ? "reconciled" : "event", queue_flags_string(q.flags)));
  }
  return out;
}

}  // namespace gp
