// What the agent knows, as plain values for readers outside its loop (the
// metrics layer, ctl status): a snapshot taken under a lock, and an observer
// for the events whose every occurrence matters (latency histograms).
// Nothing here renders anything.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "classify/policy.h"
#include "preempt/observer.h"  // SuspendTrigger: what made a GPU's offline processes suspended

namespace gp {

struct QueueCount {
  std::uint32_t gpu_id = 0;
  std::string type;  // "compute", "sdma", ... (trace/event.h queue_type_name)
  std::uint32_t count = 0;
};

struct AgentProcessState {
  pid_t pid = 0;
  std::string comm;
  Role role = Role::Ignored;
  std::string rule;          // the deciding rule's name, or "default"
  std::string pod_uid;       // "" when not a pod
  std::string container_id;  // "" when not a container
  std::string qos;           // guaranteed | burstable | besteffort | ""
  std::string runtime;       // containerd | crio | docker | podman | ""
  std::string cgroup;        // the cgroup path the identity came from
  std::vector<std::uint32_t> gpu_ids;  // the GPU groups it is in (0: GPU not known)
  std::vector<QueueCount> queues;      // per (gpu, type), from the exact map
  // Offline processes only.
  bool suspended = false;              // its queues are held suspended now
  std::uint64_t suspended_since_ns = 0;  // CLOCK_MONOTONIC start of the current suspension (0: none)
  double suspended_seconds = 0;        // in total, the current suspension included (at the snapshot's time)
  bool hold_pending = false;           // wanted suspended, its runtime not enabled yet
  std::string error;                   // why it cannot be preempted ("" when it can)
  std::uint64_t joined_ns = 0;         // CLOCK_MONOTONIC when the agent classified it
};

struct AgentGpuState {
  std::uint32_t gpu_id = 0;        // KFD gpu_id; 0: processes whose GPU is not known
  std::vector<pid_t> online, offline;
  bool suspended = false;          // the offline side is held (demand or a claim)
  bool online_busy = false;        // the detector holds it (online demand, hold or idle time)
  bool detection = true;           // false: the detector fell back (claims still work)
  std::size_t claims = 0;          // ctl claims on this GPU (agent-wide ones not included)
  std::map<std::string, int> holders;
  std::uint64_t suspends = 0, resumes = 0;
};

struct AgentState {
  bool read_only = false;
  std::string policy_file;
  std::size_t rules = 0;
  std::uint64_t started_ns = 0;
  std::vector<AgentProcessState> processes;  // sorted by pid
  std::vector<AgentGpuState> gpus;           // sorted by gpu_id
  std::size_t claims = 0;                    // agent-wide ctl claims (every GPU)
  std::map<std::string, int> holders;
  // Suspensions that took effect, per GPU group: one count per trigger.
  std::map<SuspendTrigger, std::uint64_t> suspend_total;
  std::uint64_t resume_total = 0;
  std::uint64_t classified_total = 0;        // processes classified since the start
  std::uint64_t classification_conflicts = 0;  // processes more than one rule matched
  std::uint64_t env_unreadable = 0;          // processes a rule on env could not be decided for
};

// Called on the agent's loop thread; an implementation that keeps what it is
// told for another thread must lock.
class AgentObserver {
 public:
  virtual ~AgentObserver() = default;
  // A GPU group's offline processes were suspended. detect_ns: from the online
  // demand to the decision (exact for a doorbell, an upper bound for a poll,
  // absent for ctl); ioctl_ns: the slowest SUSPEND ioctl (0 when none was
  // needed: nothing in the map yet, or already held for another GPU).
  virtual void on_suspend(std::uint32_t gpu_id, SuspendTrigger trigger, std::optional<std::uint64_t> detect_ns,
                          std::uint64_t ioctl_ns) {
    (void)gpu_id, (void)trigger, (void)detect_ns, (void)ioctl_ns;
  }
  virtual void on_resume(std::uint32_t gpu_id, std::uint64_t ioctl_ns) { (void)gpu_id, (void)ioctl_ns; }
};

}  // namespace gp
