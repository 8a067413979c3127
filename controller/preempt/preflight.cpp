#include "preempt/preflight.h"

#include <unistd.h>

#include <fstream>
#include <string>

#include <fmt/format.h>

#include "base/error.h"
#include "base/proc.h"

namespace gp {

namespace {

constexpr int kSchedPolicyNoHws = 2;

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

}  // namespace

void check_host(const PreflightPaths& paths, uid_t euid) {
  if (euid != 0)
    throw UserError(
        "preempt must run as root: it ptrace-attaches to the target and uses the KFD debug "
        "ioctls. Run it with sudo.");
  std::ifstream in(paths.sched_policy);
  int policy = -1;
  if (in >> policy && policy == kSchedPolicyNoHws)
    throw UserError(
        "amdgpu is loaded with sched_policy=2 (NO_HWS): the KFD debug API, and so preempt, needs "
        "the hardware scheduler. Reload amdgpu with sched_policy=0 (the default).");
}

pid_t check_target(const PreflightPaths& paths, pid_t pid, pid_t self) {
  if (pid <= 0) throw UserError(fmt::format("--offline-pid {}: not a process id", pid));
  if (!exists(fmt::format("{}/{}", paths.proc, pid)))
    throw UserError(fmt::format("--offline-pid {}: no such process", pid));
  pid_t tgid = thread_group_of(pid, paths.proc);
  if (tgid == 0) tgid = pid;
  if (tgid == self)
    throw UserError(fmt::format("--offline-pid {} is gpreempt-bpf itself", pid));
  const std::string comm = comm_of(tgid, paths.proc).value_or("?");
  if (!exists(fmt::format("{}/{}", paths.kfd_proc, tgid)))
    throw UserError(fmt::format(
        "process {} ({}) is not a KFD process: it has no {}/{} because it never opened /dev/kfd. "
        "Pass the PID of the GPU process itself, after it has started using the GPU.",
        tgid, comm, paths.kfd_proc, tgid));
  const pid_t tracer = tracer_of(tgid, paths.proc);
  if (tracer > 0)
    throw UserError(fmt::format(
        "process {} ({}) is already traced by {} ({}): a debugger or tracer (gdb, strace, rocgdb) "
        "is attached, and a process can have only one. Detach it, then retry.",
        tgid, comm, tracer, comm_of(tracer, paths.proc).value_or("?")));
  return tgid;
}

}  // namespace gp
