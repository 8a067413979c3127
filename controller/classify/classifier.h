// Gathers what the policy looks at for one process (/proc/PID/{status,comm,
// exe,cgroup,environ}, through host_path() so tests use a fake tree), its pod
// identity, and the GPUs KFD lists for it; then applies the policy.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "classify/cgroup_identity.h"
#include "classify/policy.h"

namespace gp {

struct Classification {
  ProcessFacts facts;
  CgroupIdentity identity;
  Verdict verdict;
  std::string rule;      // the deciding rule's name, or "default"
  bool gone = false;     // the process vanished while it was read (verdict meaningless)
  int env_errno = 0;     // why /proc/PID/environ could not be read (0: read, or not needed)
  int exe_errno = 0;
};

// Reads the facts the policy needs (environ and exe only if a rule uses
// them) and classifies. Never throws for a process that is gone or unreadable.
Classification classify_process(const Policy& policy, pid_t pid);

// One line for logs and --check-policy's notes: which rule decided, which
// later rules also matched (the first wins), and what could not be read.
// Empty when there is nothing to add.
std::string verdict_notes(const Policy& policy, const Classification& c);

// The KFD processes: /sys/class/kfd/kfd/proc/<pid>.
std::vector<pid_t> kfd_pids();
// Every process: /proc/<pid>.
std::vector<pid_t> all_pids();
// The GPUs (KFD gpu_id) KFD keeps per-process data for: the vram_<id> /
// stats_<id> entries of /sys/class/kfd/kfd/proc/<pid>/. KFD creates them for
// every GPU the process may use (its device cgroup's), when it opens
// /dev/kfd. Empty without a GPU, or for a process that is gone. Sorted.
std::vector<std::uint32_t> kfd_gpus_of(pid_t pid);

}  // namespace gp
