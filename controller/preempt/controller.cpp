#include "preempt/controller.h"

#include <algorithm>
#include <cerrno>
#include <future>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/stop_signal.h"
#include "trace/event.h"

namespace gp {

namespace {

constexpr std::size_t kMaxSpans = 4096;

}  // namespace

Target* PreemptController::find(pid_t tgid) const {
  for (auto& t : targets_)
    if (t->tgid() == tgid) return t.get();
  return nullptr;
}

PtraceTracer* PreemptController::home_thread() const {
  for (const auto& t : targets_)
    if (!t->gone() && t->tracer()) return t->tracer();
  return nullptr;
}

std::vector<int> home_wake_fds(PtraceTracer* home) {
  std::vector<int> fds = home ? home->poll_fds() : std::vector<int>{};
  if (stop_fd() >= 0) fds.push_back(stop_fd());
  return fds;
}

bool PreemptController::all_gone() const {
  return std::all_of(targets_.begin(), targets_.end(), [](auto& t) { return t->gone(); });
}

// Start every target's operation before waiting for any: they run on their
// own tracer threads, so N targets cost one ioctl time, not N. A target whose
// thread is the caller's runs its ioctl inside start(), so it goes last.
std::vector<TargetOp> PreemptController::each_target(
    const std::function<std::future<QueueOpReport>(Target&)>& start) {
  std::vector<Target*> order;
  for (auto& t : targets_)
    if (!t->gone() && !t->on_own_thread()) order.push_back(t.get());
  for (auto& t : targets_)
    if (!t->gone() && t->on_own_thread()) order.push_back(t.get());
  std::vector<std::pair<pid_t, std::future<QueueOpReport>>> pending;
  for (Target* t : order) pending.emplace_back(t->tgid(), start(*t));
  std::vector<TargetOp> out;
  for (auto& [tgid, fut] : pending) out.push_back({tgid, fut.get()});
  return out;
}

std::vector<TargetOp> PreemptController::suspend_all(const QueueMap& map, const SuspendCause& cause) {
  holding_ = true;
  auto ops = each_target([&](Target& t) {
    auto qids = map.qids_of(static_cast<std::uint32_t>(t.tgid()));
    for (auto q : extra_qids_)
      if (std::find(qids.begin(), qids.end(), q) == qids.end()) qids.push_back(q);
    return t.suspend_async(std::move(qids));
  });
  if (observer_) observer_->suspended(cause, ops, monotonic_ns());
  return ops;
}

std::vector<TargetOp> PreemptController::resume_all() {
  holding_ = false;
  auto ops = each_target([&](Target& t) { return t.resume_async(extra_qids_); });
  if (observer_) observer_->resumed(ops, monotonic_ns());
  return ops;
}

void PreemptController::on_event(const Event& ev, MapChange change, const QueueMap& map) {
  const auto tgid = static_cast<pid_t>(ev.raw.tgid);
  switch (ev.kind()) {
    case EventKind::Preempt: {
      auto cause = ev.cause();
      if (cause != Cause::DbgSuspend && cause != Cause::DbgResume) return;
      auto owner = static_cast<pid_t>(ev.raw.pre.cause_tgid);
      if (!find(owner)) return;
      const auto& pre = ev.raw.pre;
      const std::uint64_t total = pre.end_ns > pre.t0_ns ? pre.end_ns - pre.t0_ns : pre.total_ns;
      spans_.push_back({pre.t0_ns, total, owner, cause == Cause::DbgResume});
      ++spans_seen_;
      if (spans_.size() > kMaxSpans) spans_.pop_front();
      return;
    }
    default:
      break;
  }
  Target* t = find(tgid);
  if (!t || t->gone()) return;
  // A secondary KFD context has the target's tgid but its own kfd_process and
  // qids: its queues, destroys and teardown are never the primary's (whose
  // queues the debug API suspends). Its qid N is not the primary's qid N.
  if (!from_primary_context(ev)) {
    if (ev.kind() == EventKind::QueueAdd && change == MapChange::Added)
      t->secondary_queue(ev.raw.q.context_id, ev.raw.q.qid);
    return;
  }
  switch (ev.kind()) {
    case EventKind::QueueAdd:
    case EventKind::QueueSnapshot:
      if (change == MapChange::Added) t->queue_added(ev.raw.q.qid, ev.raw.ts_ns);
      break;
    case EventKind::QueueRemove:
      if (change == MapChange::Removed) t->queue_removed(ev.raw.q.qid);
      break;
    case EventKind::IoctlDestroyBegin:
      t->destroy_begin(ev.raw.io.qid);
      break;
    case EventKind::IoctlDestroyQueue:
      // Done, or failed: either way no longer being destroyed. A queue the
      // kernel freed left the map before its ioctl returned (uninit_queue);
      // one still mapped survived a failed destroy (-EINVAL: there was no
      // such queue to destroy).
      if (ev.raw.ret < 0 && ev.raw.ret != -EINVAL && map.find({ev.raw.tgid, GP_CONTEXT_PRIMARY, ev.raw.io.qid}))
        t->destroy_failed(ev.raw.io.qid);
      else
        t->queue_removed(ev.raw.io.qid);
      break;
    case EventKind::ProcessRelease:
      t->process_gone("its address space is going away (exit or exec)");
      break;
    case EventKind::ProcessSweep:
      t->process_gone("KFD tore down its queues (process exit)");
      break;
    default:
      break;
  }
}

std::vector<KernelSpan> PreemptController::spans(pid_t tgid, bool resume, std::uint64_t from,
                                                 std::uint64_t to) const {
  std::vector<KernelSpan> out;
  for (const auto& s : spans_)
    if (s.tgid == tgid && s.resume == resume && s.t0_ns >= from && s.t0_ns <= to) out.push_back(s);
  return out;
}

std::vector<std::string> PreemptController::take_notes() {
  std::vector<std::string> out;
  for (auto& t : targets_)
    for (auto& n : t->take_notes()) out.push_back(std::move(n));
  return out;
}

void PreemptController::detach_all() {
  if (holding_ && observer_) observer_->resumed({}, monotonic_ns());  // detaching resumes
  holding_ = false;
  // Reverse attach order, like any stack of acquisitions.
  for (auto it = targets_.rbegin(); it != targets_.rend(); ++it) (*it)->detach();
}

}  // namespace gp
