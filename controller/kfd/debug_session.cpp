#include "kfd/debug_session.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/error.h"
#include "trace/event.h"

namespace gp {

namespace {

// Bound on QUERY_DEBUG_EVENT rounds per wake-up: each answered event is one
// round, so this only stops a misbehaving kernel from spinning us.
constexpr int kMaxEventRounds = 64;

std::string enable_refusal(pid_t pid, int err) {
  switch (-err) {
    case EALREADY:
      return fmt::format(
          "process {} already has KFD debugging enabled by another debugger (rocgdb, a profiler, "
          "or another gpreempt-bpf preempt). Stop that session first.",
          pid);
    case EPERM:
      return fmt::format("KFD refused to debug process {}: the controller is not its ptrace "
                         "parent (EPERM). Is it traced by someone else?",
                         pid);
    case ESRCH:
      return fmt::format("process {} exited, or has no KFD context any more (ESRCH)", pid);
    case ENODEV:
      return fmt::format("process {} uses a GPU the KFD debugger does not support (ENODEV: "
                         "only GFX9 and newer can be suspended)",
                         pid);
    case EBUSY:
      return fmt::format("KFD refused to debug process {} (EBUSY): it has a cooperative (GWS) "
                         "queue on a GPU without debugger GWS support, or PC sampling is active",
                         pid);
    case EINVAL:
      return fmt::format("KFD refused to debug process {} (EINVAL): is amdgpu loaded with "
                         "sched_policy=2 (NO_HWS)? The debug API needs the hardware scheduler",
                         pid);
    default:
      return fmt::format("KFD refused to debug process {}: {}", pid, errno_name(err));
  }
}

std::string runtime_refusal(pid_t pid, std::uint32_t state) {
  if (state == GP_KFD_RUNTIME_ENABLED_BUSY)
    return fmt::format(
        "KFD could not activate debugging for process {} (runtime_state busy): on GPUs without "
        "per-VMID debugging only one process per GPU can be debugged at a time and another one "
        "(rocgdb, another preempt session) holds it, or the process has a queue with a user CU "
        "mask. Stop the other session and retry.",
        pid);
  return fmt::format("KFD failed to set up debugging for process {} (runtime_state error); see "
                     "dmesg for the amdgpu message",
                     pid);
}

}  // namespace

std::size_t QueueOpReport::count(QueueOutcome o) const {
  return static_cast<std::size_t>(
      std::count_if(entries.begin(), entries.end(), [o](const QueueResult& r) { return r.outcome == o; }));
}

DebugSession::DebugSession(KfdClient& kfd, pid_t tgid, DebugSessionOptions opts)
    : kfd_(kfd), tgid_(tgid), opts_(opts) {
  // The command line refuses these with an explanation; this is the last line.
  if (!grace_programmable(opts_.grace_period))
    throw std::invalid_argument(fmt::format("grace period {} does not fit SCH_WAVE (1..255)", opts_.grace_period));
}

DebugSession::~DebugSession() { close_pipe(); }

void DebugSession::close_pipe() {
  if (pipe_rd_ >= 0) ::close(pipe_rd_);
  if (pipe_wr_ >= 0) ::close(pipe_wr_);
  pipe_rd_ = pipe_wr_ = -1;
}

void DebugSession::enable() {
  // KFD writes one byte per event from the raising thread (possibly the
  // target's own ioctl): the pipe must never block it.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
    throw UserError(fmt::format("cannot create the KFD event pipe: {}", std::strerror(errno)));
  pipe_rd_ = fds[0];
  pipe_wr_ = fds[1];

  gp_kfd_runtime_info rinfo{};
  // Only EC_PROCESS_RUNTIME: subscribing to queue/wave/memory exceptions would
  // divert them from the application's own runtime to us.
  int r = kfd_.dbg_enable(tgid_, kRuntimeEventMask, pipe_wr_, &rinfo);
  if (r < 0) {
    close_pipe();
    throw UserError(enable_refusal(tgid_, r));
  }
  enabled_ = true;
  runtime_state_ = rinfo.runtime_state;
  if (runtime_state_ == GP_KFD_RUNTIME_ENABLED_BUSY || runtime_state_ == GP_KFD_RUNTIME_ENABLED_ERROR) {
    auto state = runtime_state_;
    teardown();
    throw UserError(runtime_refusal(tgid_, state));
  }
}

std::uint64_t DebugSession::drain_pipe() {
  if (pipe_rd_ < 0) return 0;
  char buf[256];
  std::uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(pipe_rd_, buf, sizeof(buf));
    if (n > 0) {
      total += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN: empty
  }
  bytes_seen_ += total;
  return total;
}

// One EC_PROCESS_RUNTIME, already read and cleared: note the runtime state it
// announces (which tells enable from disable) and let the target go on.
void DebugSession::answer_runtime_event(std::uint32_t announced_state) {
  // First: the target sleeps in RUNTIME_ENABLE/DISABLE until this up(), and
  // nothing else releases it if we die (docs/kfd-internals.md §2).
  kfd_.send_runtime_event(tgid_, kRuntimeEventMask);
  ++events_answered_;
  runtime_state_ = announced_state;
  if (runtime_state_ == GP_KFD_RUNTIME_DISABLED) {
    // hsa_shut_down: KFD deactivated debugging, which resumed every queue.
    ++counters_.runtime_disables;
    suspended_.clear();
  } else {
    ++counters_.runtime_enables;
  }
}

int DebugSession::on_event_fd() {
  drain_pipe();  // before querying: a byte that arrives later means a new event
  if (!enabled_ || gone_) return 0;
  int answered = 0;
  for (int round = 0; round < kMaxEventRounds; ++round) {
    // The only event we subscribe to, read and cleared in one ioctl
    // (QUERY_EXCEPTION_INFO returns the runtime state with it): the answer is
    // the second ioctl after the wake-up.
    gp_kfd_runtime_info info{};
    int r = kfd_.query_runtime_info(tgid_, /*clear=*/true, &info);
    if (r == -ENODATA) break;  // nothing pending
    if (r < 0) {
      // Cannot read the runtime info: clear the event the generic way; its
      // meaning follows from the state we knew (enable and disable alternate).
      DebugEvent ev;
      if (kfd_.query_debug_event(tgid_, kRuntimeEventMask, &ev) < 0 || !(ev.status & kRuntimeEventMask)) break;
      info.runtime_state = runtime_state_ == GP_KFD_RUNTIME_DISABLED ? GP_KFD_RUNTIME_ENABLED
                                                                      : GP_KFD_RUNTIME_DISABLED;
    }
    answer_runtime_event(info.runtime_state);
    ++answered;
  }
  return answered;
}

int DebugSession::snapshot(std::vector<std::uint32_t>* kernel_qids) {
  snap_buf_.assign(GP_KFD_MAX_QUEUES_PER_PROCESS, gp_kfd_queue_snapshot_entry{});
  int r = kfd_.get_queue_snapshot(tgid_, kQueueNewMask, &snap_buf_);
  ++counters_.snapshots;
  if (r < 0) return r;
  for (const auto& e : snap_buf_) {
    cleared_.insert(e.queue_id);
    if (kernel_qids) kernel_qids->push_back(e.queue_id);
  }
  return r;
}

int DebugSession::read_queue_snapshot(std::vector<gp_kfd_queue_snapshot_entry>* out) {
  out->assign(GP_KFD_MAX_QUEUES_PER_PROCESS, gp_kfd_queue_snapshot_entry{});
  ++counters_.snapshots;
  return kfd_.get_queue_snapshot(tgid_, /*clear_mask=*/0, out);
}

int DebugSession::issue(QueueOp op, const std::vector<std::uint32_t>& qids, QueueOpReport* rep) {
  const bool suspend = op == QueueOp::Suspend;
  // Never with zero entries: RESUME with a NULL array means "every queue".
  std::vector<std::uint32_t> arr = qids;
  const std::uint64_t t0 = monotonic_ns();
  const int r = suspend ? kfd_.suspend_queues(tgid_, arr, opts_.grace_period, kQueueNewMask)
                        : kfd_.resume_queues(tgid_, arr);
  const std::uint64_t t1 = monotonic_ns();
  ++(suspend ? counters_.suspends : counters_.resumes);
  if (!rep->issued) {
    rep->issued = true;
    rep->start_ns = t0;
    rep->end_ns = t1;
    rep->ret = r;
  }
  if (r < 0) {
    ++counters_.failed_ioctls;
    return r;
  }
  // The kernel rewrote each entry: qid | INVALID/ERROR bits.
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const QueueResult res{qids[i], queue_outcome(arr[i])};
    if (suspend && res.outcome == QueueOutcome::Done) {
      suspended_.insert(res.qid);
      ++counters_.queues_suspended;
    } else if (suspend && res.outcome == QueueOutcome::Error) {
      // suspend_queues sets is_suspended before the step that failed (the
      // MES remove, or the execute of the whole device) and never rolls it
      // back (docs/kfd-internals.md §2): held as suspended, so RESUME frees it.
      // A RESUME of a queue that is not suspended is answered as done.
      suspended_.insert(res.qid);
      rep->possibly_suspended.push_back(res.qid);
      ++counters_.possibly_suspended;
    } else if (!suspend) {
      // INVALID on resume: the qid no longer exists; either way it is not ours to hold.
      if (res.outcome != QueueOutcome::Error) suspended_.erase(res.qid);
      if (res.outcome == QueueOutcome::Done) ++counters_.queues_resumed;
    }
    rep->entries.push_back(res);
  }
  return r;
}

std::vector<std::uint32_t> DebugSession::unmapped(const std::vector<std::uint32_t>& kernel,
                                                  const std::vector<std::uint32_t>& want) const {
  std::vector<std::uint32_t> out;
  for (auto q : kernel)
    if (std::find(want.begin(), want.end(), q) == want.end() && !destroying_.count(q) && !suspended_.count(q))
      out.push_back(q);
  return out;
}

QueueOpReport DebugSession::suspend_qids(std::vector<std::uint32_t> want, bool snapshot_first,
                                         bool adopt_unmapped) {
  QueueOpReport rep;
  std::uint64_t t0 = monotonic_ns();
  if (snapshot_first) {
    std::vector<std::uint32_t> kernel;
    rep.snapshot_ret = snapshot(&kernel);
    rep.snapshotted = rep.snapshot_ret >= 0;
    if (adopt_unmapped) {
      // The kernel's own list is authoritative: a queue the map has not
      // seen yet (event in flight, or lost) is suspended too, and reported.
      rep.map_missed = unmapped(kernel, want);
      want.insert(want.end(), rep.map_missed.begin(), rep.map_missed.end());
      counters_.map_missed += rep.map_missed.size();
    }
  }
  if (want.empty()) {
    if (!rep.snapshotted && adopt_unmapped)
      rep.refused = fmt::format("the map lists no queue and KFD's own list could not be read "
                                "(GET_QUEUE_SNAPSHOT: {}): nothing is known to be suspended",
                                errno_name(rep.snapshot_ret));
    rep.total_ns = monotonic_ns() - t0;
    return rep;
  }
  if (issue(QueueOp::Suspend, want, &rep) >= 0) {
    // INVALID can mean "still flagged new" (created after our snapshot):
    // snapshot once more and retry those that the kernel still lists.
    std::vector<std::uint32_t> invalid;
    for (auto& e : rep.entries)
      if (e.outcome == QueueOutcome::Invalid) invalid.push_back(e.qid);
    if (!invalid.empty()) {
      std::vector<std::uint32_t> kernel;
      snapshot(&kernel);
      std::vector<std::uint32_t> retry;
      for (auto q : invalid)
        if (std::find(kernel.begin(), kernel.end(), q) != kernel.end() && !destroying_.count(q))
          retry.push_back(q);
      if (!retry.empty()) {
        QueueOpReport again;
        if (issue(QueueOp::Suspend, retry, &again) >= 0) {
          for (auto& r : again.entries)
            for (auto& e : rep.entries)
              if (e.qid == r.qid) e.outcome = r.outcome;
          rep.possibly_suspended.insert(rep.possibly_suspended.end(), again.possibly_suspended.begin(),
                                        again.possibly_suspended.end());
          rep.retried = static_cast<unsigned>(retry.size());
          counters_.retried += retry.size();
        }
      }
    }
    if (adopt_unmapped && !snapshot_first) {
      // Every map qid was cleared already, so the SUSPEND went first; KFD's
      // list now finds what the map lacks (an add event lost or in flight).
      std::vector<std::uint32_t> kernel;
      rep.snapshot_ret = snapshot(&kernel);
      rep.snapshotted = rep.snapshot_ret >= 0;
      rep.map_missed = unmapped(kernel, want);
      if (!rep.map_missed.empty()) {
        counters_.map_missed += rep.map_missed.size();
        issue(QueueOp::Suspend, rep.map_missed, &rep);
      }
    }
  }
  counters_.invalid_entries += rep.count(QueueOutcome::Invalid);
  counters_.error_entries += rep.count(QueueOutcome::Error);
  rep.total_ns = monotonic_ns() - t0;
  return rep;
}

QueueOpReport DebugSession::suspend(const std::vector<std::uint32_t>& map_qids) {
  QueueOpReport rep;
  if (gone_) {
    rep.refused = "the target is gone";
    return rep;
  }
  if (!enabled_ || !runtime_ready()) {
    rep.refused = fmt::format("the target's runtime is {}, not enabled",
                              runtime_state_name(runtime_state_));
    return rep;
  }
  holding_ = true;  // from here on, new queues are suspended as they appear
  std::vector<std::uint32_t> want;
  bool need_snapshot = false;
  for (auto q : map_qids) {
    if (destroying_.count(q)) continue;  // dying; suspending it would block its destroy
    want.push_back(q);
    if (!cleared_.count(q)) need_snapshot = true;
  }
  // An empty list is never taken for "nothing to suspend" before KFD agrees.
  if (want.empty()) need_snapshot = true;
  return suspend_qids(std::move(want), need_snapshot, /*adopt_unmapped=*/true);
}

QueueOpReport DebugSession::resume(const std::vector<std::uint32_t>& also) {
  QueueOpReport rep;
  rep.resume = true;
  holding_ = false;
  std::vector<std::uint32_t> qids(suspended_.begin(), suspended_.end());
  for (auto q : also)
    if (!suspended_.count(q)) qids.push_back(q);
  if (gone_ || !enabled_ || qids.empty() || !runtime_ready()) return rep;
  std::uint64_t t0 = monotonic_ns();
  if (issue(QueueOp::Resume, qids, &rep) >= 0 && rep.count(QueueOutcome::Error) > 0) {
    // A hardware failure on some device: try those once more.
    std::vector<std::uint32_t> again(suspended_.begin(), suspended_.end());
    QueueOpReport second;
    if (!again.empty() && issue(QueueOp::Resume, again, &second) >= 0)
      for (auto& r : second.entries)
        for (auto& e : rep.entries)
          if (e.qid == r.qid) e.outcome = r.outcome;
  }
  counters_.invalid_entries += rep.count(QueueOutcome::Invalid);
  counters_.error_entries += rep.count(QueueOutcome::Error);
  rep.total_ns = monotonic_ns() - t0;
  return rep;
}

std::optional<QueueOpReport> DebugSession::on_queue_added(std::uint32_t qid, std::uint64_t added_ns) {
  cleared_.erase(qid);  // a new queue (maybe a reused qid) starts flagged EC_QUEUE_NEW
  destroying_.erase(qid);
  if (!holding_ || gone_ || !runtime_ready()) return std::nullopt;
  if (suspended_.count(qid)) return std::nullopt;
  auto rep = suspend_qids({qid}, /*snapshot_first=*/true, /*adopt_unmapped=*/false);
  if (rep.ok() && rep.count(QueueOutcome::Done) > 0) {
    ++counters_.new_while_suspended;
    std::uint64_t now = monotonic_ns();
    if (added_ns && now > added_ns) counters_.new_queue_gap.add(now - added_ns);
  } else {
    ++counters_.new_suspend_failed;
  }
  return rep;
}

std::optional<QueueOpReport> DebugSession::on_destroy_begin(std::uint32_t qid) {
  destroying_.insert(qid);
  if (gone_ || !suspended_.count(qid)) return std::nullopt;
  QueueOpReport rep;
  rep.resume = true;
  std::vector<std::uint32_t> one{qid};
  issue(QueueOp::Resume, one, &rep);
  if (!suspended_.count(qid)) ++counters_.resumed_for_destroy;
  return rep;
}

std::optional<QueueOpReport> DebugSession::on_destroy_failed(std::uint32_t qid) {
  destroying_.erase(qid);
  if (!holding_ || gone_ || !runtime_ready() || suspended_.count(qid)) return std::nullopt;
  // destroy_queue_cpsch failed after we resumed the queue for it (a signal
  // ended wait_on_destroy_queue, or the unmap failed): pqm_destroy_queue kept
  // it, and it runs. Held again for the rest of the suspension.
  auto rep = suspend_qids({qid}, /*snapshot_first=*/!cleared_.count(qid), /*adopt_unmapped=*/false);
  if (rep.ok() && rep.count(QueueOutcome::Done) > 0) ++counters_.resuspended_after_failed_destroy;
  return rep;
}

void DebugSession::on_queue_removed(std::uint32_t qid) {
  destroying_.erase(qid);
  suspended_.erase(qid);
  cleared_.erase(qid);
}

void DebugSession::on_target_gone() {
  // Exit or exec: the old image's kfd_process is torn down by the kernel,
  // which drops its queues whether suspended or not and ends the debug session.
  gone_ = true;
  holding_ = false;
  suspended_.clear();
}

// Re-ENABLE just long enough to SEND_RUNTIME_EVENT: DISABLE never releases a
// target blocked in RUNTIME_ENABLE/DISABLE (docs/kfd-internals.md §2).
void DebugSession::release_blocked_runtime() {
  gp_kfd_runtime_info rinfo{};
  if (kfd_.dbg_enable(tgid_, kRuntimeEventMask, pipe_wr_, &rinfo) < 0) return;
  kfd_.send_runtime_event(tgid_, kRuntimeEventMask);
  kfd_.dbg_disable(tgid_);
  ++counters_.released_after_disable;
}

void DebugSession::teardown() {
  if (!enabled_) {
    close_pipe();
    return;
  }
  if (!gone_) {
    on_event_fd();  // a target waiting in the handshake must not stay blocked
    holding_ = false;
    if (!suspended_.empty()) resume();
    kfd_.dbg_disable(tgid_);  // also resumes anything a failed RESUME left suspended
    drain_pipe();
    if (bytes_seen_ > events_answered_) release_blocked_runtime();
  }
  enabled_ = false;
  suspended_.clear();
  close_pipe();
}

}  // namespace gp
