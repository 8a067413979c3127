// Which events a filtered `record` (-p PID or `-- CMD`) writes.
//
// Without a filter every event is written, in ring-buffer order. With one:
//   - an event is kept when its owner (pid), the acting process, or, for a
//     DBG_TRAP ioctl, its target is in the process tree;
//   - a preemption is GPU-wide: it is kept, with ALL its victims (so the
//     collateral ones stay linked), when the tree caused it or owns one of
//     its victims. Victims are emitted when the packet goes out (T1) and
//     their GP_EV_PREEMPT at the end of the span, so victims wait here until
//     their preemption decides.
//     Victims whose preemption never arrives (lost) are written at finish()
//     or when too many are waiting, if the tree owns them: the report then
//     counts them unmatched, which is the truth.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <vector>

#include "trace/event.h"

namespace gp::record {

class RecordFilter {
 public:
  using Member = std::function<bool(std::uint32_t pid)>;
  // Preemptions whose victims may wait at once (a busy GPU preempts a few
  // thousand times a second at most; the end of a span follows within ms).
  static constexpr std::size_t kMaxPending = 1024;

  // An empty `member` means no filter.
  explicit RecordFilter(Member member = {});

  bool filtering() const { return static_cast<bool>(member_); }
  // The events to write now, in order (none, this one, or waiting victims
  // followed by their preemption).
  std::vector<Event> offer(const Event& ev);
  // Everything still waiting that the tree owns; call once at the end.
  std::vector<Event> finish();
  // For the initial queue map: is this owner recorded?
  bool keeps_owner(std::uint32_t pid) const { return !member_ || member_(pid); }

 private:
  bool wanted(const Event& ev) const;
  void remember_decision(std::uint64_t seq, bool kept);
  void evict_oldest_pending(std::vector<Event>& out);

  Member member_;
  std::map<std::uint64_t, std::vector<Event>> pending_;  // victims by preemption seq
  std::deque<std::uint64_t> pending_order_;
  std::map<std::uint64_t, bool> decided_;  // recent preemptions: kept or not (late victims)
  std::deque<std::uint64_t> decided_order_;
};

// The preemption seq a victim or preemption event belongs to (gp_event.seq).
std::uint64_t preempt_seq(const Event& ev);

}  // namespace gp::record
