// The exact map of live KFD user queues, built only from lifecycle events.
//
// Identity is the kernel's struct queue pointer (add/remove pair on it); users
// look queues up by (owner tgid, context, qid): a secondary KFD context has the
// primary's tgid but its own qids. qids are reused after destroy, so a new add
// for a (tgid, ctx, qid) that is still mapped replaces the old entry and counts
// as a missed remove. Pointers never added are ignored. A state record only
// ever updates the entry it names, and only when it agrees with it on every
// identity field (records read without the kernel's locks can be garbage,
// docs/kfd-internals.md §5); it never moves an entry to another key.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "trace/event.h"

namespace gp {

enum class QueueOrigin : std::uint8_t { Event, Reconciled };

struct QueueEntry {
  gp_queue_info info{};
  std::uint32_t tgid = 0;
  std::uint64_t added_ns = 0;        // event time of the add (or snapshot)
  std::uint64_t changed_ns = 0;      // last state change
  QueueOrigin origin = QueueOrigin::Event;
  std::uint64_t generation = 0;      // reconcile pass that last confirmed it
  // A destroy ioctl of this queue is in flight (ioctl_destroy_begin seen, its
  // return not yet): some kernels remove the sysfs entry before the destroy.
  bool destroying = false;
  bool destroy_exempted = false;     // a reconcile pass already kept it for that
  // Its destroy ioctl failed and the kernel kept the queue (no uninit_queue):
  // it lives on, possibly without a sysfs entry, until the process ends.
  bool destroy_failed = false;
};

struct QueueKey {
  std::uint32_t tgid;
  std::uint16_t context_id;
  std::uint32_t qid;
  auto operator<=>(const QueueKey&) const = default;
};

enum class MapChange : std::uint8_t { None, Added, Removed, Updated, Ignored };

struct MapStats {
  std::uint64_t adds = 0;
  std::uint64_t removes = 0;
  std::uint64_t updates = 0;
  std::uint64_t unseen_removes = 0;    // uninit_queue of a pointer never added (kernel queues, failed creates)
  std::uint64_t replaced_stale = 0;    // add found the same (tgid, ctx, qid) still mapped: a remove was missed
  std::uint64_t swept = 0;             // entries dropped by process sweeps
  std::uint64_t reconciled_added = 0;  // entries that only a reconcile pass found
  std::uint64_t reconciled_dropped = 0;// entries a reconcile pass proved gone
  // State records dropped because they disagree with the entry they name
  // (another kfd_process, tgid, context, qid or GPU): read from a queue freed
  // or reused under an unlocked walk. Never applied, never re-keyed.
  std::uint64_t inconsistent_dropped = 0;
  std::uint64_t destroy_failed_kept = 0; // failed destroys whose queue the kernel kept
  std::uint64_t reconcile_kept_unlisted = 0;  // kept by a pass although sysfs did not list them
};

class QueueMap {
 public:
  // Applies one event; returns what it did to the map.
  MapChange apply(const Event& ev);

  const QueueEntry* find(const QueueKey& key) const;
  const QueueEntry* find_kptr(std::uint64_t queue_kptr) const;
  std::vector<QueueEntry> queues_of(std::uint32_t tgid) const;  // sorted by (ctx, qid)
  std::vector<QueueEntry> all() const;                           // sorted by (tgid, ctx, qid)
  std::vector<std::uint32_t> qids_of(std::uint32_t tgid) const;  // primary context only, sorted
  std::size_t size() const { return by_kptr_.size(); }
  const MapStats& stats() const { return stats_; }

  // Reconciliation. A pass is: begin_reconcile(), then snapshot events arrive
  // through apply() (they confirm or add entries), then end_reconcile() with
  // every (tgid, context, qid) sysfs listed. Entries neither confirmed by a
  // snapshot nor listed in sysfs, and not added by a live event during the
  // pass, are dropped: the map is exact again after a loss. Except an entry
  // the kernel keeps without a sysfs entry: one whose destroy failed (kept),
  // and one whose destroy is in flight (kept by one pass).
  void begin_reconcile();
  void end_reconcile(const std::set<QueueKey>& listed);
  bool reconciling() const { return reconciling_; }

 private:
  MapChange add(const Event& ev, QueueOrigin origin);
  MapChange remove(std::uint64_t queue_kptr);
  MapChange update(const Event& ev);
  MapChange sweep(std::uint64_t proc_kptr, std::uint32_t tgid);
  MapChange terminate(const Event& ev);
  MapChange destroy_begin(const Event& ev);
  MapChange destroy_done(const Event& ev);
  void erase(std::unordered_map<std::uint64_t, QueueEntry>::iterator it);
  QueueEntry* find_mut(const Event& ioctl_ev);  // the entry an ioctl record's (tgid, context, qid) names

  std::unordered_map<std::uint64_t, QueueEntry> by_kptr_;
  std::map<QueueKey, std::uint64_t> by_key_;
  MapStats stats_;
  std::uint64_t generation_ = 0;
  bool reconciling_ = false;
};

}  // namespace gp
