// preempt --online-pid: reads the online processes' AQL dispatch ids from
// their memory (PointerReader) and paces the reads so the loop stays under a
// CPU budget (PollPacer, pure arithmetic).
//
// Layout relied on (ROCR; sources in docs/preempt.md): the KFD create-
// queue ioctl's read_pointer_address / write_pointer_address, which the map's
// queue events carry as rptr_addr / wptr_addr, point at amd_queue_t's
// read_dispatch_id (+128) and write_dispatch_id (+56): both 64-bit packet
// counters that only grow. The read id is written by the GPU's command
// processor as it fetches packets, the write id by the producer as it reserves
// slots. Only AQL queues are watched.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gp {

struct WatchedQueue {
  pid_t pid = 0;
  std::uint64_t id = 0;  // the queue's identity in the map (kernel pointer)
  std::uint32_t qid = 0;
  std::uint64_t rptr_addr = 0;
  std::uint64_t wptr_addr = 0;
};

struct PointerRead {
  pid_t pid = 0;
  std::uint64_t id = 0;
  int err = 0;  // 0, or the errno of the failed read
  std::uint64_t wptr = 0, rptr = 0;
};

// process_vm_readv of every queue's (rptr, wptr), one system call per
// process. A process whose pages process_vm_readv cannot pin (EFAULT on a
// VM_IO/VM_PFNMAP mapping such as a GPU buffer object mapped through the
// driver) is switched for good to pread of /proc/PID/mem, which goes through
// the mapping's own access method.
class PointerReader {
 public:
  ~PointerReader();
  void set(const std::vector<WatchedQueue>& queues);
  const std::vector<WatchedQueue>& queues() const { return queues_; }
  // One read of every queue; results in the order of set().
  const std::vector<PointerRead>& read_all();
  std::uint64_t syscalls() const { return syscalls_; }
  // Processes read through /proc/PID/mem (process_vm_readv failed with EFAULT).
  std::vector<pid_t> procmem_pids() const;

 private:
  struct Proc {
    std::size_t first = 0, count = 0;  // range in queues_
    bool procmem = false;
    int mem_fd = -1;
  };
  void read_proc(pid_t pid, Proc& p);
  int read_one(pid_t pid, Proc& p, const WatchedQueue& q, PointerRead* out);

  std::vector<WatchedQueue> queues_;  // sorted by pid
  std::vector<PointerRead> reads_;
  std::map<pid_t, Proc> procs_;
  std::map<pid_t, bool> procmem_;      // survives set(): a process's memory kind does not change
  std::uint64_t syscalls_ = 0;
};

struct PacerConfig {
  std::uint64_t min_interval_ns = 100'000;  // --poll-us: never faster than this
  std::uint64_t max_interval_ns = 20'000'000;
  double budget = 0.03;                     // --cpu-budget, as a fraction of one core
  std::uint64_t window_ns = 20'000'000;     // how often the interval is re-derived
};

// Keeps the loop thread's CPU time under budget: every window it compares the
// CPU the thread used (sleep, wake-up, reads, decisions: everything) with the
// wall time, and scales the sleep interval by used / target (target = 70 % of
// the budget, so the noise of one window does not cross it). It starts at
// 1 ms (or --poll-us if slower) and speeds up from there.
class PollPacer {
 public:
  explicit PollPacer(PacerConfig cfg, std::uint64_t wall_ns = 0, std::uint64_t cpu_ns = 0);
  // After each loop iteration, with the current monotonic and thread CPU clocks.
  void update(std::uint64_t wall_ns, std::uint64_t cpu_ns);
  std::uint64_t interval_ns() const { return interval_; }
  double cpu_fraction() const;  // over the whole run
  std::uint64_t cpu_ns() const { return cpu_last_ - cpu_start_; }
  std::uint64_t wall_ns() const { return wall_last_ - wall_start_; }
  std::uint64_t iterations() const { return iterations_; }
  std::uint64_t min_seen_ns() const { return min_seen_; }
  std::uint64_t max_seen_ns() const { return max_seen_; }

 private:
  PacerConfig cfg_;
  std::uint64_t interval_;
  std::uint64_t wall_start_, cpu_start_, wall_last_, cpu_last_;
  std::uint64_t win_wall_, win_cpu_;
  std::uint64_t iterations_ = 0;
  std::uint64_t min_seen_, max_seen_;
};

// CLOCK_THREAD_CPUTIME_ID of the calling thread.
std::uint64_t thread_cpu_ns();

}  // namespace gp
