#include "preempt/preflight.h"

#include <unistd.h>

#include <fstream>
#include <string>

#include <fmt/format.h>

#include "base/error.h"

namespace gp {

namespace {

constexpr int kSchedPolicyNoHws = 2;

// "Key:\tvalue" from /proc/PID/status, or "" if absent.
std::string status_field(const PreflightPaths& paths, pid_t pid, const std::string& key) {
  std::ifstream in(fmt::format("{}/{}/status", paths.proc, pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    auto v = line.substr(key.size() + 1);
    auto b = v.find_first_not_of(" \t");
    return b == std::string::npos ? "" : v.substr(b);
  }
  return "";
}

std::string comm_of(const PreflightPaths& paths, pid_t pid) {
  std::ifstream in(fmt::format("{}/{}/comm", paths.proc, pid));
  std::string c;
  std::getline(in, c);
  return c.empty() ? "?" : c;
}

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
  auto tgid_s = status_field(paths, pid, "Tgid");
  pid_t tgid = tgid_s.empty() ? pid : static_cast<pid_t>(std::stol(tgid_s));
  if (tgid == self)
    throw UserError(fmt::format("--offline-pid {} is gpreempt-bpf itself", pid));
  auto comm = comm_of(paths, tgid);
  if (!exists(fmt::format("{}/{}", paths.kfd_proc, tgid)))
    throw UserError(fmt::format(
        "process {} ({}) is not a KFD process: it has no {}/{} because it never opened /dev/kfd. "
        "Pass the PID of the GPU process itself, after it has started using the GPU.",
        tgid, comm, paths.kfd_proc, tgid));
  auto tracer_s = status_field(paths, tgid, "TracerPid");
  pid_t tracer = tracer_s.empty() ? 0 : static_cast<pid_t>(std::stol(tracer_s));
  if (tracer != 0)
    throw UserError(fmt::format(
        "process {} ({}) is already traced by {} ({}): a debugger or tracer (gdb, strace, rocgdb) "
        "is attached, and a process can have only one. Detach it, then retry.",
        tgid, comm, tracer, comm_of(paths, tracer)));
  return tgid;
}

}  // namespace gp
