// preempt --online-pid: decides from the online processes' AQL queue pointers
// when the offline job must give the GPU up and when it may have it back.
//
// A pure state machine: its inputs are observations with their time (one
// queue's write/read dispatch ids, a read that failed, a process that exited,
// the passage of time), its outputs are decisions (suspend, resume, fall back
// to the control socket). No I/O, no clock: unit tests drive it with numbers.
//
// Demand, from the pointer samples: a queue whose write dispatch id differs from its read dispatch id
// has packets the command processor has not fetched yet, and a write id that
// moved since the previous sample means packets were submitted in between,
// even if the CP fetched them all before we looked. Either counts. Equal ids
// mean every packet was dispatched, not that its kernel finished: the idle
// time before a resume covers that gap.
//
// Demand, from the doorbell uprobe (controller/attach/doorbell_probe.h): a store to one of the
// process's doorbell signals, with the kernel's timestamp of the store, so
// the detection latency of those suspensions is exact, not a bound.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/sample_stats.h"

namespace gp {

struct DetectorConfig {
  std::uint64_t idle_ns = 20'000'000;      // --idle-ms: no demand this long before a resume
  std::uint64_t min_hold_ns = 50'000'000;  // --min-hold-ms: a suspension lasts at least this
  int unreadable_limit = 3;                // consecutive failed reads of every queue -> fall back
};

enum class DetectorAction { None, Suspend, Resume, Fallback };

// What caused the last non-None action (for the log line and the statistics).
struct DetectorReason {
  pid_t pid = 0;
  std::uint64_t queue = 0;     // the queue's identity (kernel pointer), 0 if none
  std::uint64_t wptr = 0, rptr = 0;
  std::uint64_t bound_ns = 0;  // Suspend: now - previous sample of that queue (latency upper bound)
  bool by_doorbell = false;
  std::uint64_t doorbell_ns = 0;  // Suspend by a doorbell: now - the store (exact); bound_ns is 0
  int error = 0;               // Fallback: the errno
  std::string why;
};

struct DetectorStats {
  std::uint64_t samples = 0;
  std::uint64_t demand_samples = 0;
  std::uint64_t suspends = 0;
  std::uint64_t resumes = 0;
  std::uint64_t read_failures = 0;
  std::uint64_t exits = 0;
  std::uint64_t suspended_ns = 0;  // closed suspensions; see suspended_ns_at()
  LatencyStats detection_bound;    // per suspend by a sample: the upper bound of the detection latency
  std::uint64_t doorbells = 0;          // doorbell observations
  std::uint64_t doorbell_suspends = 0;  // suspends decided by a doorbell
  LatencyStats detection_doorbell;      // per doorbell suspend: store -> decision, exact
};

class OnlineDetector {
 public:
  explicit OnlineDetector(DetectorConfig cfg, std::uint64_t start_ns = 0);

  void add_process(pid_t pid);
  // Queues come and go with the map's events. Unknown pids are ignored.
  void add_queue(pid_t pid, std::uint64_t queue);
  void remove_queue(pid_t pid, std::uint64_t queue);
  // The queue set of pid is exactly `queues` (keeps the samples of those that stay).
  void set_queues(pid_t pid, const std::vector<std::uint64_t>& queues);

  DetectorAction observe(pid_t pid, std::uint64_t queue, std::uint64_t wptr, std::uint64_t rptr,
                         std::uint64_t now);
  // pid rang a doorbell of the queue at amd_queue_t address `aql_queue` at
  // `at` (the uprobe's clock, CLOCK_MONOTONIC like `now`), storing `index`.
  DetectorAction doorbell(pid_t pid, std::uint64_t aql_queue, std::uint64_t index, std::uint64_t at,
                          std::uint64_t now);
  // err: errno of the failed read. EPERM/EACCES: falls back at once (no
  // reading will ever work); ESRCH: the process is gone; anything else counts
  // toward unreadable_limit.
  DetectorAction unreadable(pid_t pid, std::uint64_t queue, int err, std::uint64_t now);
  // Resumes at once when no remaining online process showed demand within
  // idle_ns: the hold protects against a process that may submit again.
  DetectorAction process_exited(pid_t pid, std::uint64_t now);
  DetectorAction tick(std::uint64_t now);
  // The action the caller tried could not be carried out: back to the state before.
  void action_failed(DetectorAction a, std::uint64_t now);
  // A Suspend took effect at `at` (after the ioctl; the caller may have been
  // descheduled since the observation): the hold and the idle time count from
  // there, or a late suspension could be undone by the very next tick.
  void suspend_done(std::uint64_t at);

  // When tick() may next decide something; 0 when nothing is pending.
  std::uint64_t next_deadline() const;
  // tick(now) would resume on what has been observed so far (suspended, idle
  // and held long enough, no packets waiting): the caller's last chance to
  // prepare for the resume (put the doorbell uprobes back) and to look again.
  bool resume_due(std::uint64_t now) const;
  bool suspended() const { return state_ == State::Suspended; }
  bool fallen_back() const { return state_ == State::FallenBack; }
  std::size_t processes() const { return procs_.size(); }
  bool watching(pid_t pid) const { return procs_.count(pid) != 0; }
  std::size_t queues() const;
  const DetectorReason& reason() const { return reason_; }
  const DetectorStats& stats() const { return stats_; }
  std::uint64_t suspended_ns_at(std::uint64_t now) const;  // closed + the open suspension
  std::uint64_t start_ns() const { return start_ns_; }

 private:
  enum class State { Running, Suspended, FallenBack };
  struct QueueState {
    bool sampled = false;
    std::uint64_t wptr = 0, rptr = 0;
    std::uint64_t sampled_ns = 0;
    int failures = 0;  // consecutive
  };
  struct ProcState {
    std::map<std::uint64_t, QueueState> queues;
    std::uint64_t last_demand_ns = 0;
    bool demand_seen = false;
  };

  DetectorAction demand(pid_t pid, std::uint64_t queue, const QueueState& before, std::uint64_t wptr,
                        std::uint64_t rptr, std::uint64_t now);
  void begin_suspension(pid_t pid, std::uint64_t queue, std::uint64_t now);
  DetectorAction fall_back(pid_t pid, std::uint64_t queue, int err, std::string why);
  DetectorAction resume(std::uint64_t now, std::string why);
  bool any_pending() const;
  bool demand_within_idle(std::uint64_t now) const;

  DetectorConfig cfg_;
  State state_ = State::Running;
  std::uint64_t start_ns_;
  std::uint64_t suspended_since_ = 0;
  std::uint64_t last_demand_ns_ = 0;  // any process, while suspended
  std::map<pid_t, ProcState> procs_;
  DetectorReason reason_;
  DetectorStats stats_;
};

const char* to_string(DetectorAction a);

}  // namespace gp
