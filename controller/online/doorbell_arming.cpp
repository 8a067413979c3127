#include "online/doorbell_arming.h"

#include <set>

#include <fmt/format.h>

namespace gp {

DoorbellArming::DoorbellArming(DoorbellProbe* probe, bool enabled, const PointerReader& reader, Log log)
    : probe_(probe), enabled_(probe && enabled), reader_(reader), log_(std::move(log)) {}

DoorbellArming::Snapshot DoorbellArming::snapshot() const {
  // A reader of its own: the loop's results stay the loop's.
  PointerReader r;
  r.set(reader_.queues());
  Snapshot s;
  std::set<pid_t> pids;
  for (const auto& read : r.read_all()) {
    pids.insert(read.pid);
    if (!read.err) s.write_ids[read.id] = read.wptr;
  }
  for (pid_t pid : pids) {
    const auto c = probe_->counts(pid);
    s.doorbells += c.doorbells + c.stale;
  }
  return s;
}

void DoorbellArming::after_suspend() {
  if (enabled_ && probe_->uprobes_in()) remove();
}

void DoorbellArming::after_round(bool suspended) {
  if (enabled_ && suspended && probe_->uprobes_in()) remove();
}

void DoorbellArming::remove() {
  // One removal in the kernel at a time: each close waits for a grace period
  // (8 ms to 220 ms here, by link kind and load), and suspensions can come
  // faster; handing over more would queue links without bound (perf-event
  // ones all still trapping, stale ones counted once per link). Until it is
  // done they stay in, as with --keep-doorbell-uprobes.
  if (probe_->removals_pending()) return;
  probe_->remove_uprobes();
  // After the hand-over: what the online processes submit from here on is
  // what the uprobes no longer see (less what they still see in the removal's
  // grace period, taken off at the insertion).
  out_since_ = snapshot();
}

void DoorbellArming::insert() {
  const Snapshot now = snapshot();  // before: a store after the insertion is the uprobes'
  std::uint64_t submitted = 0;
  for (const auto& [id, w] : now.write_ids) {
    auto it = out_since_.write_ids.find(id);
    // A queue created while they were out counts from 0, where ROCR starts it.
    const std::uint64_t from = it == out_since_.write_ids.end() ? 0 : it->second;
    if (w > from) submitted += w - from;
  }
  const std::uint64_t seen = now.doorbells > out_since_.doorbells ? now.doorbells - out_since_.doorbells : 0;
  if (submitted > seen) unprobed_ += submitted - seen;
  for (const auto& [pid, why] : probe_->insert_uprobes())
    log_(fmt::format("online pid {}: its doorbell uprobes could not be put back ({}); polling only", pid, why));
}

void DoorbellArming::before_reads(const OnlineDetector& det, std::uint64_t now) {
  if (enabled_ && !probe_->uprobes_in() && det.resume_due(now)) insert();
}

void DoorbellArming::before_resume() {
  if (enabled_ && !probe_->uprobes_in()) insert();
}

DoorbellArmingReport DoorbellArming::report(std::uint64_t probed_stores, std::uint64_t stale_stores) const {
  DoorbellArmingReport r;
  r.enabled = enabled_;
  r.probed_stores = probed_stores;
  r.stale_stores = stale_stores;
  r.unprobed_submissions = unprobed_;
  if (probe_) r.uprobes = probe_->arming_stats();
  return r;
}

void DoorbellArming::print(std::FILE* out, std::uint64_t probed_stores, std::uint64_t stale_stores) const {
  if (!enabled_) return;
  const auto r = report(probed_stores, stale_stores);
  const auto& u = r.uprobes;
  auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  fmt::print(out,
             "doorbell uprobes out while suspended: {} store(s) probed ({} while being taken out), {} "
             "submission(s) unprobed (write ids); "
             "taken out {} time(s) ({} closed within {:.1f} ms mean / {:.1f} max), put back {} time(s) ({:.2f} ms "
             "mean / {:.2f} max before the resume, {:.2f} ms CPU)\n",
             r.probed_stores, r.stale_stores, r.unprobed_submissions, u.removals,
             u.uprobe_multi ? "uprobe_multi links" : "perf-event uprobe links",
             u.removals_done ? ms(u.remove_ns_total / u.removals_done) : 0.0, ms(u.remove_ns_max), u.insertions,
             u.insertions ? ms(u.insert_ns_total / u.insertions) : 0.0, ms(u.insert_ns_max),
             ms(u.insert_cpu_ns_total));
}

}  // namespace gp
