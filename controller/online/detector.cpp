#include "online/detector.h"

#include <algorithm>
#include <cerrno>
#include <set>

#include <fmt/format.h>

namespace gp {

const char* to_string(DetectorAction a) {
  switch (a) {
    case DetectorAction::None: return "none";
    case DetectorAction::Suspend: return "suspend";
    case DetectorAction::Resume: return "resume";
    case DetectorAction::Fallback: return "fallback";
  }
  return "?";
}

OnlineDetector::OnlineDetector(DetectorConfig cfg, std::uint64_t start_ns) : cfg_(cfg), start_ns_(start_ns) {}

void OnlineDetector::add_process(pid_t pid) { procs_.try_emplace(pid); }

void OnlineDetector::add_queue(pid_t pid, std::uint64_t queue) {
  if (auto it = procs_.find(pid); it != procs_.end()) it->second.queues.try_emplace(queue);
}

void OnlineDetector::remove_queue(pid_t pid, std::uint64_t queue) {
  if (auto it = procs_.find(pid); it != procs_.end()) it->second.queues.erase(queue);
}

void OnlineDetector::set_queues(pid_t pid, const std::vector<std::uint64_t>& queues) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  std::set<std::uint64_t> keep(queues.begin(), queues.end());
  std::erase_if(it->second.queues, [&](const auto& kv) { return !keep.count(kv.first); });
  for (auto q : queues) it->second.queues.try_emplace(q);
}

std::size_t OnlineDetector::queues() const {
  std::size_t n = 0;
  for (const auto& [pid, p] : procs_) n += p.queues.size();
  return n;
}

DetectorAction OnlineDetector::observe(pid_t pid, std::uint64_t queue, std::uint64_t wptr,
                                       std::uint64_t rptr, std::uint64_t now) {
  if (state_ == State::FallenBack) return DetectorAction::None;
  auto p = procs_.find(pid);
  if (p == procs_.end()) return DetectorAction::None;
  auto q = p->second.queues.find(queue);
  if (q == p->second.queues.end()) return DetectorAction::None;

  const QueueState before = q->second;
  ++stats_.samples;
  // The first sample of a queue has nothing to compare with: only packets
  // still waiting count. Later, a moved write id counts too: those packets
  // were submitted and fetched between two samples.
  const bool pending = wptr != rptr;
  const bool moved = before.sampled && wptr != before.wptr;
  q->second = QueueState{true, wptr, rptr, now, 0};
  if (!pending && !moved) return DetectorAction::None;

  ++stats_.demand_samples;
  p->second.last_demand_ns = now;
  p->second.demand_seen = true;
  return demand(pid, queue, before, wptr, rptr, now);
}

void OnlineDetector::begin_suspension(pid_t pid, std::uint64_t queue, std::uint64_t now) {
  state_ = State::Suspended;
  suspended_since_ = now;
  ++stats_.suspends;
  reason_ = DetectorReason{};
  reason_.pid = pid;
  reason_.queue = queue;
}

DetectorAction OnlineDetector::doorbell(pid_t pid, std::uint64_t aql_queue, std::uint64_t index,
                                        std::uint64_t at, std::uint64_t now) {
  if (state_ == State::FallenBack) return DetectorAction::None;
  auto p = procs_.find(pid);
  if (p == procs_.end()) return DetectorAction::None;
  at = std::min(at, now);
  ++stats_.doorbells;
  p->second.last_demand_ns = std::max(p->second.last_demand_ns, at);
  p->second.demand_seen = true;
  last_demand_ns_ = std::max(last_demand_ns_, at);
  if (state_ != State::Running) return DetectorAction::None;
  begin_suspension(pid, aql_queue, now);
  ++stats_.doorbell_suspends;
  reason_.wptr = index;
  reason_.by_doorbell = true;
  reason_.doorbell_ns = now - at;
  stats_.detection_doorbell.add(reason_.doorbell_ns);
  reason_.why = "doorbell rung";
  return DetectorAction::Suspend;
}

DetectorAction OnlineDetector::demand(pid_t pid, std::uint64_t queue, const QueueState& before,
                                      std::uint64_t wptr, std::uint64_t rptr, std::uint64_t now) {
  last_demand_ns_ = now;
  if (state_ != State::Running) return DetectorAction::None;
  begin_suspension(pid, queue, now);
  reason_.wptr = wptr;
  reason_.rptr = rptr;
  if (before.sampled) {
    // The submission happened after the previous sample showed nothing new.
    reason_.bound_ns = now - before.sampled_ns;
    stats_.detection_bound.add(reason_.bound_ns);
  }
  reason_.why = wptr != rptr ? "packets waiting" : "packets submitted and fetched since the last sample";
  return DetectorAction::Suspend;
}

bool OnlineDetector::any_pending() const {
  for (const auto& [pid, p] : procs_)
    for (const auto& [id, q] : p.queues)
      if (q.sampled && q.failures == 0 && q.wptr != q.rptr) return true;
  return false;
}

DetectorAction OnlineDetector::resume(std::uint64_t now, std::string why) {
  state_ = State::Running;
  ++stats_.resumes;
  stats_.suspended_ns += now - suspended_since_;
  reason_ = DetectorReason{};
  reason_.why = std::move(why);
  return DetectorAction::Resume;
}

bool OnlineDetector::resume_due(std::uint64_t now) const {
  if (state_ != State::Suspended) return false;
  if (now - last_demand_ns_ < cfg_.idle_ns || now - suspended_since_ < cfg_.min_hold_ns) return false;
  return !any_pending();
}

DetectorAction OnlineDetector::tick(std::uint64_t now) {
  if (!resume_due(now)) return DetectorAction::None;
  return resume(now, fmt::format("idle for {:.1f} ms", static_cast<double>(now - last_demand_ns_) / 1e6));
}

std::uint64_t OnlineDetector::next_deadline() const {
  if (state_ != State::Suspended) return 0;
  return std::max(last_demand_ns_ + cfg_.idle_ns, suspended_since_ + cfg_.min_hold_ns);
}

DetectorAction OnlineDetector::process_exited(pid_t pid, std::uint64_t now) {
  if (!procs_.erase(pid)) return DetectorAction::None;
  ++stats_.exits;
  if (state_ != State::Suspended) return DetectorAction::None;
  // Only the remaining processes' demand during this suspension keeps it.
  std::uint64_t last = 0;
  bool any = false;
  for (const auto& [p, st] : procs_)
    if (st.demand_seen && st.last_demand_ns >= suspended_since_) {
      last = std::max(last, st.last_demand_ns);
      any = true;
    }
  if (!any || now - last >= cfg_.idle_ns)
    return resume(now, fmt::format("online pid {} exited", pid));
  last_demand_ns_ = last;
  return DetectorAction::None;
}

DetectorAction OnlineDetector::fall_back(pid_t pid, std::uint64_t queue, int err, std::string why) {
  // The caller resumes the offline job before it hands over to the control
  // socket; the suspension ends here.
  state_ = State::FallenBack;
  reason_ = DetectorReason{};
  reason_.pid = pid;
  reason_.queue = queue;
  reason_.error = err;
  reason_.why = std::move(why);
  return DetectorAction::Fallback;
}

DetectorAction OnlineDetector::unreadable(pid_t pid, std::uint64_t queue, int err, std::uint64_t now) {
  if (state_ == State::FallenBack) return DetectorAction::None;
  auto p = procs_.find(pid);
  if (p == procs_.end()) return DetectorAction::None;
  ++stats_.read_failures;
  if (err == ESRCH) return process_exited(pid, now);
  if (err == EPERM || err == EACCES) {
    if (state_ == State::Suspended) stats_.suspended_ns += now - suspended_since_;
    return fall_back(pid, queue, err, "the online process's memory may not be read");
  }
  if (auto q = p->second.queues.find(queue); q != p->second.queues.end()) ++q->second.failures;
  // One bad queue (being destroyed, its event not here yet) is no reason to
  // give up; every queue failing again and again is.
  std::size_t total = 0, failing = 0;
  for (const auto& [pp, st] : procs_)
    for (const auto& [id, q] : st.queues) {
      ++total;
      failing += q.failures >= cfg_.unreadable_limit;
    }
  if (total && failing == total) {
    if (state_ == State::Suspended) stats_.suspended_ns += now - suspended_since_;
    return fall_back(pid, queue, err,
                     fmt::format("no online queue's pointers could be read {} times in a row",
                                 cfg_.unreadable_limit));
  }
  return DetectorAction::None;
}

void OnlineDetector::action_failed(DetectorAction a, std::uint64_t now) {
  if (a == DetectorAction::Suspend && state_ == State::Suspended) {
    // Nothing was suspended: no suspension to count, the next demand retries.
    state_ = State::Running;
    --stats_.suspends;
    if (reason_.by_doorbell) --stats_.doorbell_suspends;
    (void)now;
  }
}

void OnlineDetector::suspend_done(std::uint64_t at) {
  if (state_ != State::Suspended || at < suspended_since_) return;
  suspended_since_ = at;
  last_demand_ns_ = std::max(last_demand_ns_, at);
}

std::uint64_t OnlineDetector::suspended_ns_at(std::uint64_t now) const {
  return stats_.suspended_ns + (state_ == State::Suspended ? now - suspended_since_ : 0);
}

}  // namespace gp
