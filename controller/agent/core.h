// The agent's decisions: which KFD process has which role, which GPU group it
// is in, and when each group's offline processes are held suspended. No I/O
// of its own beyond /proc reads (through classify/) and the targets' ioctls
// (through preempt/): the loop (agent/loop.h) feeds it events, doorbells,
// pointer reads, exits and control requests; unit tests feed it the same
// with a fake KFD and a fake event source.
//
// Pairing. A process's GPUs are those of its queues in the exact map; while
// it has none, those KFD lists for it in /sys/class/kfd/kfd/proc/<pid>/
// (the GPUs it may use); when neither says anything (no GPU node at all),
// group 0. Each GPU group has the online detector of preempt --online-pid
// (online/detector.h, same defaults) over its online members' queues and
// doorbells, and a claim book for ctl. An offline process is held suspended
// while any group it is in is claimed (the detector's suspension, or a ctl
// claim on that GPU or on every GPU); it is suspended as a whole, its queues
// on every GPU, because KFD suspends a process's queues and a job stalled
// on one GPU seldom makes progress on another. Membership follows the events:
// a process joins on process_create (or at start), moves when its queues
// show another GPU, and leaves when it exits.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/state.h"
#include "classify/classifier.h"
#include "online/detector.h"
#include "online/poller.h"
#include "preempt/claims.h"
#include "preempt/controller.h"
#include "preempt/protocol.h"

namespace gp {

struct AgentOptions {
  bool read_only = false;       // classify and report only: no ptrace, no /dev/kfd
  int idle_ms = 20;             // preempt --online-pid's defaults
  int min_hold_ms = 50;
  int max_hold_ms = 0;          // ctl claims end after this long (0: until released)
};

// Attaches to an offline process (PTRACE_SEIZE + debug ENABLE, not waiting
// for its runtime). Throws UserError when it cannot; leaves nothing behind.
using TargetFactory = std::function<std::unique_ptr<Target>(pid_t)>;

class AgentCore final : public EventSink {
 public:
  AgentCore(Policy policy, AgentOptions opts, EventSource& src, TargetFactory attach, std::FILE* log,
            AgentObserver* observer = nullptr);
  ~AgentCore() override;  // finish()
  AgentCore(const AgentCore&) = delete;
  AgentCore& operator=(const AgentCore&) = delete;

  // Classifies every one of pids (the KFD processes at start).
  void start(const std::vector<pid_t>& pids, std::uint64_t now);
  // A KFD process appeared (process_create, or start): classify it and let
  // it join. Idempotent; the agent's own pid is skipped.
  void add_process(pid_t pid, std::uint64_t now);
  // It exited (or exec'd: its KFD process is gone): leave every group.
  void remove_process(pid_t pid, const std::string& why, std::uint64_t now);

  // The event stream, after the map (EventSink): noted here, acted on in after_pump().
  void on_event(const Event& ev, MapChange change, const QueueMap& map) override;
  void on_loss(std::uint64_t total) override;
  // What the events since the last call mean: creates, exits, queues that
  // moved a process to other GPUs, offline processes whose hold is pending.
  void after_pump(std::uint64_t now);

  // Online demand. A doorbell of `pid` at `at` (the uprobe's clock), on the
  // amd_queue_t at `aql_queue`.
  void on_doorbell(pid_t pid, std::uint64_t aql_queue, std::uint64_t index, std::uint64_t at, std::uint64_t now);
  void on_read(const PointerRead& r, std::uint64_t now);
  // The online process's memory may not be read (errno err): its groups fall back to claims.
  void on_unreadable(pid_t pid, int err, std::uint64_t now);
  // Idle and hold times, claims that reached max_hold_ms, pending holds.
  void tick(std::uint64_t now);

  // One control-socket request; returns the reply line ("ok ..." / "err ...").
  std::string handle(const ControlRequest& req, std::uint64_t now);

  // For the loop.
  std::vector<pid_t> online_pids() const;
  // The online processes' AQL queues with their pointer addresses.
  std::vector<WatchedQueue> watched_queues() const;
  bool needs_polling() const { return !watched_queues_.empty(); }
  // Some group with online members runs its offline side: a doorbell must wake the loop.
  bool wants_doorbell_wakeup() const;
  std::uint64_t next_deadline() const;  // 0: none
  bool wants_rescan() const { return rescan_; }
  // After a loss: every KFD process again (joins those the lost events announced).
  void rescan(const std::vector<pid_t>& pids, std::uint64_t now);
  // Drops members whose process is gone without an event telling (lost events).
  void reap(std::uint64_t now);

  // Thread-safe: the last published state, time-dependent fields at `now`.
  AgentState snapshot(std::uint64_t now) const;
  // Publishes the state if anything changed since the last call (loop thread).
  void publish(std::uint64_t now);

  // Releases every claim, resumes and detaches every offline process, prints the summary. Idempotent.
  void finish(std::uint64_t now);

  const Policy& policy() const { return policy_; }
  std::uint64_t started_ns() const { return t0_; }  // the time base of the log lines

 private:
  struct Member;
  struct Group;
  struct HoldResult;

  Member* member(pid_t pid);
  const Member* member(pid_t pid) const;
  Group& group(std::uint32_t gpu);
  std::vector<std::uint32_t> gpus_for(const Member& m) const;
  void set_gpus(Member& m, std::vector<std::uint32_t> gpus, std::uint64_t now);
  void join(Member& m, std::uint32_t gpu, std::uint64_t now);
  void leave(Member& m, std::uint32_t gpu, std::uint64_t now);
  void sync_online_queues(Member& m);
  void drop_empty_groups();
  void rebuild_watched();

  bool claimed(const Group& g) const;
  bool wanted(const Member& m) const;
  // Holds or releases each offline process as wanted() says. Returns what it did.
  HoldResult apply_holds(std::uint64_t now);
  bool hold(Member& m, std::uint64_t now, HoldResult& r);
  void release(Member& m, std::uint64_t now, HoldResult& r);
  void act(Group& g, DetectorAction a, std::uint64_t now);
  void after_claim_change(std::uint32_t gpu, bool all, bool claimed_now, const std::string& why, std::uint64_t now,
                          std::string* reply);

  void log(const std::string& line);
  std::string who(const Member& m) const;
  std::string status_fields(std::optional<std::uint32_t> gpu) const;
  bool gpu_exists(std::uint32_t gpu) const;
  AgentState build_state() const;

  Policy policy_;
  AgentOptions o_;
  EventSource& src_;
  TargetFactory attach_;
  std::FILE* log_;
  AgentObserver* observer_;
  std::uint64_t t0_;
  pid_t self_;

  std::map<pid_t, std::unique_ptr<Member>> members_;
  std::map<std::uint32_t, std::unique_ptr<Group>> groups_;
  ClaimBook all_claims_;                       // ctl claims without a GPU: every group
  std::vector<std::pair<EventKind, pid_t>> pending_;  // process creates/releases, in order
  std::set<pid_t> dirty_;                      // queue events since the last after_pump()
  std::vector<WatchedQueue> watched_queues_;
  std::map<std::uint64_t, std::uint32_t> queue_gpu_;  // watched queue -> its GPU
  bool rescan_ = false;
  bool finished_ = false;
  std::uint64_t last_retry_ns_ = 0;

  // Counters for the state.
  std::map<SuspendTrigger, std::uint64_t> suspend_total_;
  std::uint64_t resume_total_ = 0, classified_ = 0, conflicts_ = 0, env_unreadable_ = 0;

  bool dirty_state_ = true;
  mutable std::mutex state_mu_;
  AgentState published_;
};

}  // namespace gp
