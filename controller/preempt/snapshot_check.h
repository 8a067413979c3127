// queues --snapshot-check: the kernel's own list of a process's queues
// (DBG_TRAP GET_QUEUE_SNAPSHOT, read in a short debug session) against the
// map. sysfs (--verify) shows qid, gpu, size and type; the snapshot adds the
// ring address and is what preempt's SUSPEND trusts, so agreeing with it is
// the check that matters before preempting a real workload.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bpf/kfd_uapi.h"
#include "tracing/queue_map.h"

namespace gp {

struct SnapshotCheck {
  std::uint32_t pid = 0;
  int kernel_ret = 0;                    // GET_QUEUE_SNAPSHOT's return: queues listed, or -errno
  std::size_t kernel_queues = 0;         // entries compared from the kernel's side
  std::size_t compared = 0;              // map queues compared
  std::vector<std::string> differences;  // empty = agreement
  bool ok() const { return kernel_ret >= 0 && differences.empty(); }
};

// Compares the primary-context queues of map_queues (one process) with the
// kernel's snapshot entries: same qid set, gpu, ring address, ring size and
// type class (compute vs SDMA). kernel_ret < 0 is reported as a difference.
SnapshotCheck compare_with_snapshot(std::uint32_t pid, const std::vector<QueueEntry>& map_queues,
                                    int kernel_ret,
                                    const std::vector<gp_kfd_queue_snapshot_entry>& kernel);

}  // namespace gp
