// The one reader of /proc/PID: fields of status, comm, existence. Every path
// goes through host_path() (tests point it at a fake tree), or under a root a
// caller passes (preempt's preflight, whose tests inject their own).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gp {

// host_path("/proc").
std::string proc_root();

// The value of "Key:\tvalue" in /proc/PID/status, leading blanks trimmed;
// nullopt when the file or the key is absent.
std::optional<std::string> proc_status_field(pid_t pid, std::string_view key, const std::string& root = proc_root());
// Tgid: the process a thread belongs to; 0 when there is no such task.
pid_t thread_group_of(pid_t pid, const std::string& root = proc_root());
// TracerPid: 0 when not traced; -1 when unreadable (the task is gone).
pid_t tracer_of(pid_t pid, const std::string& root = proc_root());
// /proc/PID/comm; nullopt when the task is gone.
std::optional<std::string> comm_of(pid_t pid, const std::string& root = proc_root());
// The whole of /proc/PID/NAME as it is (NULs kept: environ, cmdline);
// nullopt when it cannot be read (gone, or not permitted: *err = errno).
std::optional<std::string> proc_file(pid_t pid, std::string_view name, const std::string& root = proc_root(),
                                     int* err = nullptr);
// The /proc/PID/exe link; nullopt when it cannot be read (*err = errno).
std::optional<std::string> exe_of(pid_t pid, const std::string& root = proc_root(), int* err = nullptr);
// Every numeric entry of a directory such as /proc or /sys/class/kfd/kfd/proc, sorted.
std::vector<pid_t> pids_in(const std::string& dir);

bool process_exists(std::uint32_t pid);

// Owner pid -> comm, read once per pid (events carry the acting thread's
// comm, which is a kworker at exit and for eviction work).
class ProcessNames {
 public:
  // fallback is used (and cached) when /proc/<pid> is already gone.
  const std::string& comm(std::uint32_t pid, std::string_view fallback = "?");
  void forget(std::uint32_t pid) { cache_.erase(pid); }

 private:
  std::unordered_map<std::uint32_t, std::string> cache_;
};

}  // namespace gp
