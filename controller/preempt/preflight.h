// The read-only checks preempt runs before it touches anything, so a refusal
// never leaves a process traced, debug-enabled or suspended. Each throws
// UserError with what to do. Paths are injectable for unit tests.
#pragma once

#include <sys/types.h>

#include <string>

namespace gp {

struct PreflightPaths {
  std::string proc = "/proc";
  std::string kfd_proc = "/sys/class/kfd/kfd/proc";  // one directory per KFD process
  std::string sched_policy = "/sys/module/amdgpu/parameters/sched_policy";
};

// Root, and an amdgpu scheduler that has the debug API (sched_policy != NO_HWS).
void check_host(const PreflightPaths& paths, uid_t euid);

// The target exists, is not us, is a KFD process and is not traced by anyone.
// Returns its thread-group id (a thread id is resolved to its process).
pid_t check_target(const PreflightPaths& paths, pid_t pid, pid_t self);

}  // namespace gp
