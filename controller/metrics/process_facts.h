// The per-process facts the metrics export, and where they come from. watch
// and preempt build them from the exact queue map (metrics/map_metrics.h);
// the agent hands its own state over through the same interface, so one
// renderer serves all three.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "preempt/observer.h"

namespace gp::metrics {

struct QueueCount {
  std::uint32_t kfd_gpu_id = 0;  // KFD's topology gpu_id (/sys/class/kfd/kfd/topology/nodes/N/gpu_id)
  std::uint8_t queue_type = 0;   // enum gp_queue_type (bpf/events.h): compute, sdma, ...
  std::uint32_t count = 0;
};

struct ProcessFacts {
  std::uint32_t pid = 0;         // tgid, in the init pid namespace (hostPID)
  std::string comm;
  std::string role;              // "online" | "offline" | "ignored"; "" when nothing classifies (watch)
  std::string rule;              // the policy rule that gave the role; "" without a policy
  std::string pod_uid;           // from /proc/PID/cgroup (classify/cgroup_identity.h); "" if not a pod
  std::string container_id;      // 64 hex; "" if not in a container
  std::vector<std::uint32_t> kfd_gpu_ids;  // GPUs the process uses (at least those it has queues on)
  std::vector<QueueCount> queues;          // live queues per (GPU, type)
  // Offline processes (role "offline"):
  bool suspended = false;                  // its queues are held suspended now
  double suspended_seconds = 0;            // total time held suspended so far
  std::array<std::uint64_t, kSuspendTriggers> suspends{};  // suspensions so far, by SuspendTrigger
};

// Read on every scrape, from the HTTP server's thread: an implementation
// makes its own copy under its own lock. `out` is reused between scrapes
// (resize it; assigning into its elements keeps their capacity).
class ProcessFactsSource {
 public:
  virtual ~ProcessFactsSource() = default;
  virtual void process_facts(std::vector<ProcessFacts>& out) const = 0;
};

}  // namespace gp::metrics
