#include "tracing/queue_map.h"

#include <algorithm>

namespace gp {

namespace {

QueueKey key_of(std::uint32_t tgid, const gp_queue_info& q) { return {tgid, q.context_id, q.qid}; }

}  // namespace

MapChange QueueMap::apply(const Event& ev) {
  switch (ev.kind()) {
    case EventKind::QueueAdd:
      return add(ev, QueueOrigin::Event);
    case EventKind::QueueSnapshot:
      return add(ev, QueueOrigin::Reconciled);
    case EventKind::QueueRemove:
      return remove(ev.raw.q.queue_kptr);
    case EventKind::QueueState:
      return update(ev);
    case EventKind::ProcessSweep:
      return sweep(ev.raw.proc.proc_kptr, ev.raw.tgid);
    case EventKind::QpdTerminate:
      return terminate(ev);
    default:
      return MapChange::None;
  }
}

MapChange QueueMap::add(const Event& ev, QueueOrigin origin) {
  if (!ev.has_queue() || ev.raw.q.queue_kptr == 0) return MapChange::Ignored;
  const auto& qi = ev.raw.q;
  const auto key = key_of(ev.raw.tgid, qi);

  if (auto it = by_kptr_.find(qi.queue_kptr); it != by_kptr_.end()) {
    // Seen already (a snapshot of a queue we know, or an add we saw twice):
    // refresh what the kernel says now; the pointer is the identity.
    QueueEntry& e = it->second;
    if (key_of(e.tgid, e.info) != key) by_key_.erase(key_of(e.tgid, e.info));
    e.info = qi;
    e.tgid = ev.raw.tgid;
    e.changed_ns = ev.raw.ts_ns;
    e.generation = generation_;
    by_key_[key] = qi.queue_kptr;
    return MapChange::Updated;
  }

  if (auto old = by_key_.find(key); old != by_key_.end()) {
    // The qid is mapped to another struct queue: its remove was lost.
    ++stats_.replaced_stale;
    erase(by_kptr_.find(old->second));
  }

  QueueEntry e;
  e.info = qi;
  e.tgid = ev.raw.tgid;
  e.added_ns = e.changed_ns = ev.raw.ts_ns;
  e.origin = origin;
  e.generation = generation_;
  by_kptr_.emplace(qi.queue_kptr, e);
  by_key_[key] = qi.queue_kptr;
  ++stats_.adds;
  if (origin == QueueOrigin::Reconciled) ++stats_.reconciled_added;
  return MapChange::Added;
}

MapChange QueueMap::remove(std::uint64_t queue_kptr) {
  auto it = by_kptr_.find(queue_kptr);
  if (it == by_kptr_.end()) {
    ++stats_.unseen_removes;
    return MapChange::Ignored;
  }
  erase(it);
  ++stats_.removes;
  return MapChange::Removed;
}

MapChange QueueMap::update(const Event& ev) {
  if (!ev.has_queue()) return MapChange::Ignored;
  auto it = by_kptr_.find(ev.raw.q.queue_kptr);
  // A state change of a queue we never saw added: reconciliation will bring
  // it in; inventing an entry from a partial view would break exactness.
  if (it == by_kptr_.end()) return MapChange::Ignored;
  QueueEntry& e = it->second;
  const auto old_key = key_of(e.tgid, e.info);
  e.info = ev.raw.q;
  e.changed_ns = ev.raw.ts_ns;
  if (const auto key = key_of(e.tgid, e.info); key != old_key) {
    by_key_.erase(old_key);
    by_key_[key] = it->first;
  }
  ++stats_.updates;
  return MapChange::Updated;
}

MapChange QueueMap::sweep(std::uint64_t proc_kptr, std::uint32_t tgid) {
  std::size_t dropped = 0;
  for (auto it = by_kptr_.begin(); it != by_kptr_.end();) {
    const bool same_process =
        proc_kptr ? it->second.info.proc_kptr == proc_kptr : it->second.tgid == tgid;
    if (!same_process) {
      ++it;
      continue;
    }
    auto next = std::next(it);
    erase(it);
    it = next;
    ++dropped;
  }
  stats_.swept += dropped;
  return dropped ? MapChange::Removed : MapChange::None;
}

MapChange QueueMap::terminate(const Event& ev) {
  // The process's queues on that GPU are unmapped; they are freed a moment
  // later (uninit_queue / pqm_uninit). Until then they are not active.
  bool any = false;
  for (auto& [kptr, e] : by_kptr_) {
    if (e.info.proc_kptr != ev.raw.proc.proc_kptr || e.info.gpu_id != ev.raw.proc.gpu_id) continue;
    e.info.flags &= static_cast<std::uint8_t>(~GP_QF_ACTIVE);
    e.changed_ns = ev.raw.ts_ns;
    any = true;
  }
  return any ? MapChange::Updated : MapChange::None;
}

void QueueMap::erase(std::unordered_map<std::uint64_t, QueueEntry>::iterator it) {
  if (it == by_kptr_.end()) return;
  auto k = by_key_.find(key_of(it->second.tgid, it->second.info));
  if (k != by_key_.end() && k->second == it->first) by_key_.erase(k);
  by_kptr_.erase(it);
}

const QueueEntry* QueueMap::find(const QueueKey& key) const {
  auto k = by_key_.find(key);
  if (k == by_key_.end()) return nullptr;
  return find_kptr(k->second);
}

const QueueEntry* QueueMap::find_kptr(std::uint64_t queue_kptr) const {
  auto it = by_kptr_.find(queue_kptr);
  return it == by_kptr_.end() ? nullptr : &it->second;
}

std::vector<QueueEntry> QueueMap::queues_of(std::uint32_t tgid) const {
  std::vector<QueueEntry> out;
  for (auto it = by_key_.lower_bound({tgid, 0, 0}); it != by_key_.end() && it->first.tgid == tgid; ++it)
    out.push_back(by_kptr_.at(it->second));
  return out;
}

std::vector<QueueEntry> QueueMap::all() const {
  std::vector<QueueEntry> out;
  out.reserve(by_key_.size());
  for (const auto& [key, kptr] : by_key_) out.push_back(by_kptr_.at(kptr));
  return out;
}

std::vector<std::uint32_t> QueueMap::qids_of(std::uint32_t tgid) const {
  std::vector<std::uint32_t> out;
  for (const auto& e : queues_of(tgid))
    if (e.info.context_id == GP_CONTEXT_PRIMARY) out.push_back(e.info.qid);
  return out;
}

void QueueMap::begin_reconcile() {
  ++generation_;
  reconciling_ = true;
}

void QueueMap::end_reconcile(const std::set<std::pair<std::uint32_t, std::uint32_t>>& listed) {
  // Anything confirmed in this pass (snapshot or live event) stays; anything
  // else must at least still be listed in sysfs, or it is gone.
  for (auto it = by_kptr_.begin(); it != by_kptr_.end();) {
    const QueueEntry& e = it->second;
    const bool confirmed = e.generation == generation_;
    const bool is_listed = listed.count({e.tgid, e.info.qid}) != 0;
    if (confirmed || is_listed) {
      ++it;
      continue;
    }
    auto next = std::next(it);
    erase(it);
    ++stats_.reconciled_dropped;
    it = next;
  }
  reconciling_ = false;
}

}  // namespace gp
