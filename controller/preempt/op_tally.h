// What one suspend_all()/resume_all() did, for a log line or a reply: the
// per-target reports summed, and why the failed targets failed.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kfd/debug_session.h"

namespace gp {

// One target's part of a suspend_all()/resume_all().
struct TargetOp {
  pid_t tgid = 0;
  QueueOpReport report;
};

struct OpTally {
  std::size_t done = 0;   // queues that reached the state
  std::size_t asked = 0;  // queues asked for
  std::uint64_t slowest_ioctl_ns = 0;
  bool ok = true;       // every target succeeded
  bool issued = false;  // some ioctl was issued at all
};

OpTally tally_ops(const std::vector<TargetOp>& ops);

// "qid 7 invalid (...), qid 9 error (...)" for the entries of r that did not
// reach the state; "ok" when all did.
std::string describe_failures(const QueueOpReport& r);
// "pid N: why; pid M: why" for the targets that failed.
std::string describe_op_failures(const std::vector<TargetOp>& ops);

}  // namespace gp
