#include "record/filter.h"

#include <algorithm>

namespace gp::record {

std::uint64_t preempt_seq(const Event& ev) { return ev.raw.seq; }

RecordFilter::RecordFilter(Member member) : member_(std::move(member)) {}

bool RecordFilter::wanted(const Event& ev) const {
  const auto& r = ev.raw;
  if (member_(r.tgid) || member_(r.acting_tgid)) return true;
  return ev.kind() == EventKind::IoctlDbgTrap &&
         ((r.io.dbg_target_pid && member_(r.io.dbg_target_pid)) ||
          (r.io.dbg_target_tgid && member_(r.io.dbg_target_tgid)));
}

std::vector<Event> RecordFilter::offer(const Event& ev) {
  if (!member_) return {ev};
  std::vector<Event> out;
  switch (ev.kind()) {
    case EventKind::PreemptVictim: {
      const std::uint64_t seq = preempt_seq(ev);
      if (auto d = decided_.find(seq); d != decided_.end()) {
        // Its preemption came first (not the usual order): follow its decision,
        // but never drop a victim the tree owns.
        if (d->second || member_(ev.raw.tgid)) out.push_back(ev);
        return out;
      }
      auto [it, fresh] = pending_.try_emplace(seq);
      if (fresh) pending_order_.push_back(seq);
      it->second.push_back(ev);
      if (pending_.size() > kMaxPending) evict_oldest_pending(out);
      return out;
    }
    case EventKind::Preempt: {
      const std::uint64_t seq = preempt_seq(ev);
      std::vector<Event> victims;
      if (auto it = pending_.find(seq); it != pending_.end()) {
        victims = std::move(it->second);
        pending_.erase(it);
        pending_order_.erase(std::find(pending_order_.begin(), pending_order_.end(), seq));
      }
      bool keep = wanted(ev) || member_(ev.raw.pre.cause_tgid);
      for (const auto& v : victims) keep = keep || member_(v.raw.tgid);
      remember_decision(seq, keep);
      if (keep) {
        out = std::move(victims);
        out.push_back(ev);
      }
      return out;
    }
    default:
      if (wanted(ev)) out.push_back(ev);
      return out;
  }
}

void RecordFilter::evict_oldest_pending(std::vector<Event>& out) {
  const std::uint64_t seq = pending_order_.front();
  pending_order_.pop_front();
  auto it = pending_.find(seq);
  for (const auto& v : it->second)
    if (member_(v.raw.tgid)) out.push_back(v);
  pending_.erase(it);
}

void RecordFilter::remember_decision(std::uint64_t seq, bool kept) {
  if (decided_.insert_or_assign(seq, kept).second) decided_order_.push_back(seq);
  if (decided_order_.size() > kMaxPending) {
    decided_.erase(decided_order_.front());
    decided_order_.pop_front();
  }
}

std::vector<Event> RecordFilter::finish() {
  std::vector<Event> out;
  if (!member_) return out;
  while (!pending_order_.empty()) evict_oldest_pending(out);
  return out;
}

}  // namespace gp::record
