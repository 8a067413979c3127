// The set of processes `record` keeps: the roots (-p PIDs, or the workload
// started with `--`) and every descendant. Events are matched against it by
// tgid, so it must know a child before that child's first KFD event is
// handled. Two sources feed it:
//   - fork edges (controller/record/forkwatch.h), reported for every process created
//     after the watch started; with them the set is exact ("exact" mode) and
//     a miss is a plain set lookup;
//   - without them, the parent chain read from /proc at the first event of
//     an unknown pid. That misses a child that already exited and was reaped
//     when its event is handled, which is why fork edges are preferred.
// Members are never removed: a KFD process outlives its task (process_free
// comes from a kworker after exit), and pid reuse within one recording is
// rare enough (pid_max is 4M) not to be worth a wrong drop.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <vector>

namespace gp::record {

// Parent tgid of a process, nullopt when it is gone or unreadable.
using ParentLookup = std::function<std::optional<std::uint32_t>(std::uint32_t pid)>;

class ProcessTree {
 public:
  explicit ProcessTree(ParentLookup parent_of);

  void add_root(std::uint32_t pid);
  // A fork edge: child joins when parent is a member.
  void add_child(std::uint32_t parent, std::uint32_t child);
  // Adopts every listed pid whose parent chain reaches a member (the
  // descendants that existed before the fork edges started).
  void adopt_descendants(const std::vector<std::uint32_t>& pids);
  // Called once before a pid is declared unknown (drains pending fork edges).
  void set_before_miss(std::function<void()> fn) { before_miss_ = std::move(fn); }
  // Fork edges are complete: no /proc walk on a miss.
  void set_exact(bool exact) { exact_ = exact; }
  bool exact() const { return exact_; }

  bool contains(std::uint32_t pid);
  const std::set<std::uint32_t>& members() const { return members_; }
  const std::vector<std::uint32_t>& roots() const { return roots_; }

 private:
  bool walk(std::uint32_t pid);

  ParentLookup parent_of_;
  std::function<void()> before_miss_;
  std::set<std::uint32_t> members_;
  std::vector<std::uint32_t> roots_;
  bool exact_ = false;
};

// /proc/PID/stat's ppid (through host_path(), so tests can fake /proc).
std::optional<std::uint32_t> proc_parent(std::uint32_t pid);
// Every numeric entry of /proc.
std::vector<std::uint32_t> proc_pids();

}  // namespace gp::record
