#include "tracing/queue_map.h"

#include <algorithm>
#include <cerrno>

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
    case EventKind::IoctlDestroyBegin:
      return destroy_begin(ev);
    case EventKind::IoctlDestroyQueue:
      return destroy_done(ev);
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
    if (origin == QueueOrigin::Event) {
      // kfd_procfs_add_queue of a pointer we hold: the old queue was freed
      // (its remove lost) and the memory reused; nothing of it carries over.
      e.destroying = e.destroy_exempted = e.destroy_failed = false;
    }
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
  const gp_queue_info& q = ev.raw.q;
  // What never changes for one struct queue. The evict/restore walk reads the
  // queue list after the dqm lock was dropped (docs/kfd-internals.md §5): a
  // queue freed or reused meanwhile gives a record that disagrees here.
  if (q.proc_kptr != e.info.proc_kptr || ev.raw.tgid != e.tgid || q.context_id != e.info.context_id ||
      q.qid != e.info.qid || q.gpu_id != e.info.gpu_id) {
    ++stats_.inconsistent_dropped;
    return MapChange::Ignored;
  }
  e.info.flags = q.flags;
  if (ev.cause() == Cause::Update) {
    // update_queue runs under the process mutex, after the ioctl set these.
    e.info.ring_addr = q.ring_addr;
    e.info.ring_size = q.ring_size;
    e.info.percent = q.percent;
    e.info.priority = q.priority;
  }
  e.changed_ns = ev.raw.ts_ns;
  ++stats_.updates;
  return MapChange::Updated;
}

QueueEntry* QueueMap::find_mut(const Event& ev) {
  auto k = by_key_.find({ev.raw.tgid, event_context(ev), ev.raw.io.qid});
  if (k == by_key_.end()) return nullptr;
  auto it = by_kptr_.find(k->second);
  return it == by_kptr_.end() ? nullptr : &it->second;
}

MapChange QueueMap::destroy_begin(const Event& ev) {
  if (QueueEntry* e = find_mut(ev)) {
    e->destroying = true;
    e->destroy_exempted = false;
  }
  return MapChange::None;
}

MapChange QueueMap::destroy_done(const Event& ev) {
  QueueEntry* e = find_mut(ev);
  if (!e) return MapChange::None;  // freed by uninit_queue before the ioctl returned
  e->destroying = false;
  const int ret = ev.raw.ret;
  // pqm_destroy_queue (docs/kfd-internals.md §5): -ETIME and -EIO go on to
  // uninit_queue; -EINVAL is "no such qid" (get_queue_by_qid), so an entry we
  // hold for it is stale. Any other error leaves the queue alive.
  if (ret < 0 && ret != -ETIME && ret != -EIO && ret != -EINVAL && !e->destroy_failed) {
    e->destroy_failed = true;
    ++stats_.destroy_failed_kept;
  }
  return MapChange::None;
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

void QueueMap::end_reconcile(const std::set<QueueKey>& listed) {
  // Anything confirmed in this pass (snapshot or live event) stays; anything
  // else must at least still be listed in sysfs, or it is gone. The kernel
  // can hold a queue without a sysfs entry: after a failed destroy, and
  // during a destroy on kernels that remove the entry first.
  for (auto it = by_kptr_.begin(); it != by_kptr_.end();) {
    QueueEntry& e = it->second;
    const bool confirmed = e.generation == generation_;
    const bool is_listed = listed.count(key_of(e.tgid, e.info)) != 0;
    if (confirmed || is_listed) {
      ++it;
      continue;
    }
    if (e.destroy_failed || (e.destroying && !e.destroy_exempted)) {
      if (e.destroying) e.destroy_exempted = true;
      ++stats_.reconcile_kept_unlisted;
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
