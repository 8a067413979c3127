// KFD's per-process sysfs tree, /sys/class/kfd/kfd/proc/<pid>/queues/<qid>/
// {size,type,gpuid}: the kernel's own list of live queues; a secondary KFD
// context's queues are under proc/<pid>/context_<id>/queues/<qid>/ on kernels
// that have them. Reading an attribute also fires the kfd_procfs_queue_show
// probe, which is how start-up reconciliation recovers the full struct queue of
// queues that predate us.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tracing/queue_map.h"

namespace gp {

struct SysfsQueue {
  std::uint32_t pid = 0;
  std::uint16_t context_id = GP_CONTEXT_PRIMARY;  // proc/<pid>/context_<id>/ for a secondary one
  std::uint32_t qid = 0;
  std::optional<std::uint32_t> gpu_id;
  std::optional<std::uint32_t> type;   // kernel-internal enum kfd_queue_type: 0 compute, 1 sdma, ...
  std::optional<std::uint64_t> size;
};

struct SysfsScan {
  bool kfd_present = false;            // /sys/class/kfd/kfd/proc exists
  std::vector<std::uint32_t> pids;     // KFD processes
  std::vector<SysfsQueue> queues;      // by pid; the primary context, then secondary ones by id; by qid
  std::set<QueueKey> listed() const;
};

// Lists every queue and reads its three attributes.
SysfsScan scan_sysfs_queues();

struct VerifyReport {
  std::vector<std::string> differences;  // empty = the map agrees with sysfs
  std::size_t compared = 0;
  bool ok() const { return differences.empty(); }
};

// Cross-checks the map against sysfs: same (pid, context, qid) set, same gpu,
// ring size and type class (compute vs SDMA).
VerifyReport verify_against_sysfs(const QueueMap& map, const SysfsScan& scan);

}  // namespace gp
