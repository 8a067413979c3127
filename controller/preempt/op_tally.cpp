#include "preempt/op_tally.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trace/event.h"

namespace gp {

std::string describe_failures(const QueueOpReport& r) {
  std::vector<std::string> parts;
  for (const auto& e : r.entries) {
    if (e.outcome == QueueOutcome::Invalid)
      parts.push_back(fmt::format("qid {} invalid (no such queue, still new, or being destroyed)", e.qid));
    else if (e.outcome == QueueOutcome::Error)
      parts.push_back(r.resume ? fmt::format("qid {} error (the GPU failed to restore it)", e.qid)
                               : fmt::format("qid {} error (the GPU failed to preempt it; KFD leaves it marked "
                                             "suspended, so it is resumed with the others)",
                                             e.qid));
  }
  if (parts.empty() && !r.refused.empty()) return r.refused;
  return parts.empty() ? "ok" : fmt::format("{}", fmt::join(parts, ", "));
}

OpTally tally_ops(const std::vector<TargetOp>& ops) {
  OpTally t;
  for (const auto& op : ops) {
    t.done += op.report.count(QueueOutcome::Done);
    t.asked += op.report.entries.size();
    if (op.report.issued) {
      t.issued = true;
      t.slowest_ioctl_ns = std::max(t.slowest_ioctl_ns, op.report.ioctl_ns());
    }
    if (!op.report.ok()) t.ok = false;
  }
  return t;
}

std::string describe_op_failures(const std::vector<TargetOp>& ops) {
  std::vector<std::string> parts;
  for (const auto& op : ops) {
    const auto& r = op.report;
    if (r.ok()) continue;
    parts.push_back(fmt::format("pid {}: {}", op.tgid,
                                !r.refused.empty() ? r.refused
                                : r.ret < 0        ? errno_name(r.ret)
                                                   : describe_failures(r)));
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace gp
