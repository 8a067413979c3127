// The KFD debug session of one offline target: the protocol of
// docs/kfd-internals.md §2 as a state machine, written against KfdClient so it is unit-tested
// with a fake. It is not thread-safe: every call must come from the target's
// tracer thread (the kernel checks that the caller is the ptrace parent).
//
//   enable()            ENABLE, subscribed to EC_PROCESS_RUNTIME only, dbg_fd =
//                       write end of a non-blocking pipe; refuses BUSY/ERROR.
//   on_event_fd()       the pipe woke us: answer every EC_PROCESS_RUNTIME with
//                       SEND_RUNTIME_EVENT (the target's hsa_init / hsa_shut_down
//                       blocks until we do), two ioctls and nothing before them.
//   suspend(qids)       SUSPEND with the map's qids, and KFD's own list
//                       (GET_QUEUE_SNAPSHOT, which also clears EC_QUEUE_NEW):
//                       before the SUSPEND when a map qid is not cleared yet or
//                       the map lists none, right after it otherwise; a queue
//                       KFD lists and the map lacks is suspended too. Decodes
//                       the per-entry ERROR/INVALID bits; an ERROR entry may be
//                       left suspended by the kernel and is held as suspended.
//   resume()            RESUME the queues this session (possibly) suspended.
//   on_queue_added      while suspended: suspend the new queue at once.
//   on_destroy_begin    a suspended queue is being destroyed: resume it, or the
//                       destroying thread blocks in the kernel until we do.
//   on_destroy_failed   ... and the destroy failed, the queue lives on: while
//                       suspended, suspend it again.
//   on_target_gone      exit/exec: the kernel tore the queues down; stop.
//   teardown()          RESUME, DISABLE, close the pipe; releases a target left
//                       blocked in the runtime handshake by a racing DISABLE.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/sample_stats.h"
#include "kfd/client.h"

namespace gp {

inline constexpr std::uint64_t kRuntimeEventMask = GP_KFD_EC_MASK(GP_KFD_EC_PROCESS_RUNTIME);
inline constexpr std::uint64_t kQueueNewMask = GP_KFD_EC_MASK(GP_KFD_EC_QUEUE_NEW);

// SUSPEND's grace period lands in the 8-bit SCH_WAVE field of
// CP_IQ_WAIT_TIME2 (one count is about 1K GPU clocks; docs/kfd-internals.md §3):
// the kernel keeps only the low 8 bits, and 0 there is the firmware's infinite
// grace. So a value is 1..255, or GP_KFD_USE_DEFAULT_GRACE (the driver's own).
inline constexpr std::uint32_t kGraceMin = 1;
inline constexpr std::uint32_t kGraceMax = 255;
inline constexpr bool grace_programmable(std::uint32_t g) {
  return g == GP_KFD_USE_DEFAULT_GRACE || (g >= kGraceMin && g <= kGraceMax);
}

struct DebugSessionOptions {
  std::uint32_t grace_period = GP_KFD_USE_DEFAULT_GRACE;  // SUSPEND's wave time allowance
};

struct QueueResult {
  std::uint32_t qid = 0;
  QueueOutcome outcome = QueueOutcome::Done;
};

// One SUSPEND or RESUME as the user sees it.
struct QueueOpReport {
  bool issued = false;          // an ioctl went to the kernel (false: nothing to do, or refused)
  int ret = 0;                  // the SUSPEND/RESUME return (queues handled) or -errno
  std::string refused;          // why no ioctl was issued although queues were asked for
  std::uint64_t start_ns = 0;   // CLOCK_MONOTONIC around the (first) SUSPEND/RESUME ioctl
  std::uint64_t end_ns = 0;
  std::uint64_t total_ns = 0;   // the whole operation, snapshot and retry included
  std::vector<QueueResult> entries;
  std::vector<std::uint32_t> map_missed;  // the kernel's snapshot listed them, the map did not
  // SUSPEND entries that came back ERROR: the kernel marks a queue suspended
  // before the step that failed and never rolls that back, so they may be
  // suspended; they are resumed with the others.
  std::vector<std::uint32_t> possibly_suspended;
  bool snapshotted = false;
  int snapshot_ret = 0;         // GET_QUEUE_SNAPSHOT's return when one was taken
  unsigned retried = 0;         // queues retried after a snapshot (INVALID: still new)

  std::size_t count(QueueOutcome o) const;
  std::uint64_t ioctl_ns() const { return end_ns - start_ns; }
  bool resume = false;          // RESUME: an INVALID entry is a queue that no longer exists
  // Every requested queue reached the requested state (for RESUME: none is
  // left suspended by a hardware error).
  bool ok() const {
    if (ret < 0 || !refused.empty()) return false;
    return resume ? count(QueueOutcome::Error) == 0 : count(QueueOutcome::Done) == entries.size();
  }
};

struct SessionCounters {
  std::uint64_t suspends = 0, resumes = 0;            // SUSPEND/RESUME ioctls issued
  std::uint64_t failed_ioctls = 0;                    // returned -errno
  std::uint64_t queues_suspended = 0, queues_resumed = 0;
  std::uint64_t invalid_entries = 0, error_entries = 0;
  std::uint64_t snapshots = 0, map_missed = 0, retried = 0;
  std::uint64_t new_while_suspended = 0;              // suspended as soon as the map saw them
  std::uint64_t new_suspend_failed = 0;
  LatencyStats new_queue_gap;                         // queue add (kernel) -> its SUSPEND returned
  std::uint64_t resumed_for_destroy = 0;
  std::uint64_t resuspended_after_failed_destroy = 0;  // the destroy failed, the queue lived on
  std::uint64_t possibly_suspended = 0;               // SUSPEND ERROR entries held as suspended
  std::uint64_t runtime_enables = 0, runtime_disables = 0;  // handshakes answered
  std::uint64_t released_after_disable = 0;           // handshake raced DISABLE: re-released
};

class DebugSession {
 public:
  DebugSession(KfdClient& kfd, pid_t tgid, DebugSessionOptions opts = {});
  ~DebugSession();  // closes the pipe; does no ioctl (call teardown() first)
  DebugSession(const DebugSession&) = delete;
  DebugSession& operator=(const DebugSession&) = delete;

  // Throws UserError, with nothing left enabled, when KFD refuses.
  void enable();
  int event_fd() const { return pipe_rd_; }  // readable when KFD raised an event
  // Drains the pipe and answers pending runtime events. Returns handshakes done.
  int on_event_fd();

  QueueOpReport suspend(const std::vector<std::uint32_t>& map_qids);
  // also: qids to resume even if this session did not suspend them (the
  // --extra-qid testing aid, so RESUME reaches the kernel where no queue exists).
  QueueOpReport resume(const std::vector<std::uint32_t>& also = {});
  std::optional<QueueOpReport> on_queue_added(std::uint32_t qid, std::uint64_t added_ns);
  std::optional<QueueOpReport> on_destroy_begin(std::uint32_t qid);
  // The destroy ioctl of qid returned an error and the queue still exists.
  std::optional<QueueOpReport> on_destroy_failed(std::uint32_t qid);
  void on_queue_removed(std::uint32_t qid);  // also: a destroy ioctl returned
  void on_target_gone();
  void teardown();
  // GET_QUEUE_SNAPSHOT without clearing anything (a read-only look at the
  // kernel's list, for queues --snapshot-check). Returns the kernel's count of
  // queues (may exceed out->size()) or -errno.
  int read_queue_snapshot(std::vector<gp_kfd_queue_snapshot_entry>* out);

  pid_t tgid() const { return tgid_; }
  bool enabled() const { return enabled_; }
  bool gone() const { return gone_; }
  bool holding() const { return holding_; }  // between suspend() and resume()
  std::uint32_t runtime_state() const { return runtime_state_; }
  bool runtime_ready() const { return runtime_state_ == GP_KFD_RUNTIME_ENABLED; }
  // Suspended by us, or possibly (an ERROR entry), and not resumed since.
  const std::set<std::uint32_t>& suspended_qids() const { return suspended_; }
  const SessionCounters& counters() const { return counters_; }

 private:
  // adopt_unmapped: also suspend what KFD lists and want lacks (snapshot
  // before the SUSPEND if snapshot_first, else right after it).
  QueueOpReport suspend_qids(std::vector<std::uint32_t> want, bool snapshot_first,
                             bool adopt_unmapped);
  std::vector<std::uint32_t> unmapped(const std::vector<std::uint32_t>& kernel,
                                      const std::vector<std::uint32_t>& want) const;
  int snapshot(std::vector<std::uint32_t>* kernel_qids);
  enum class QueueOp { Suspend, Resume };
  // One SUSPEND or RESUME of qids; its entries go into rep (the first ioctl's
  // time and return too). Returns the ioctl's return.
  int issue(QueueOp op, const std::vector<std::uint32_t>& qids, QueueOpReport* rep);
  void answer_runtime_event(std::uint32_t announced_state);
  std::uint64_t drain_pipe();
  void close_pipe();
  void release_blocked_runtime();

  KfdClient& kfd_;
  pid_t tgid_;
  DebugSessionOptions opts_;
  int pipe_rd_ = -1, pipe_wr_ = -1;
  bool enabled_ = false;
  bool gone_ = false;
  bool holding_ = false;
  std::uint32_t runtime_state_ = GP_KFD_RUNTIME_DISABLED;
  std::set<std::uint32_t> suspended_;   // (possibly) suspended by us and not resumed since
  std::set<std::uint32_t> cleared_;     // EC_QUEUE_NEW cleared by our snapshot
  std::set<std::uint32_t> destroying_;  // a destroy began and has not finished
  std::uint64_t bytes_seen_ = 0;        // one byte per raised event
  std::uint64_t events_answered_ = 0;
  std::vector<gp_kfd_queue_snapshot_entry> snap_buf_;
  SessionCounters counters_;
};

}  // namespace gp
