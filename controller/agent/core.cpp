#include "agent/core.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/host_paths.h"
#include "base/proc.h"
#include "trace/event.h"

namespace gp {

namespace {

// ROCr's amd_queue_t: the create-queue ioctl's write pointer is
// &write_dispatch_id (+56) (online/poller.h), the doorbell's queue_ptr the
// amd_queue_t itself.
constexpr std::uint64_t kWriteDispatchIdOffset = 56;

std::string us(std::uint64_t ns) { return fmt::format("{:.0f} us", static_cast<double>(ns) / 1e3); }

std::string read_advice(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return "reading another process's memory needs ptrace access to it (root with CAP_SYS_PTRACE; "
             "Yama ptrace_scope 3 forbids it even to root)";
    case ESRCH:
      return "the process is gone";
    default:
      return "the addresses the map gave for its queues cannot be read";
  }
}

bool primary_context(const Event& ev) {
  if (ev.raw.ev_flags & GP_EVF_SECONDARY) return false;
  if (ev.has_queue()) return ev.raw.q.context_id == GP_CONTEXT_PRIMARY;
  return true;
}

}  // namespace

struct AgentCore::Member {
  pid_t pid = 0;
  Classification cls;
  std::vector<std::uint32_t> gpus;      // the groups it is in (ignored processes: where it would be)
  std::vector<std::uint32_t> kfd_gpus;  // what sysfs listed when it was last looked at
  std::uint64_t joined_ns = 0;
  // Offline processes.
  std::unique_ptr<PreemptController> ctl;  // null: read-only, or the attach was refused
  std::string error;
  bool held = false;     // suspended by us (a SUSPEND with every queue it had, new ones follow)
  bool pending = false;  // wanted held, but its runtime is not enabled yet
  std::uint64_t held_since = 0, held_ns = 0;

  Role role() const { return cls.verdict.role; }
};

struct AgentCore::Group {
  std::uint32_t gpu = 0;
  std::set<pid_t> online, offline;
  std::unique_ptr<OnlineDetector> det;
  bool fell_back = false;
  ClaimBook claims;
  std::uint64_t suspends = 0, resumes = 0;
  std::map<std::uint64_t, bool> warned;  // queues whose failed read was reported
};

// What apply_holds() did to the offline processes whose hold changed.
struct AgentCore::HoldResult {
  bool ok = true;
  std::size_t done = 0, asked = 0;
  std::uint64_t slowest_suspend_ns = 0, slowest_resume_ns = 0;
  std::vector<std::string> parts;     // "pid N (comm): 450 us, queues 2/2"
  std::vector<std::string> failures;  // "pid N: qid 3 invalid"

  std::string text() const { return parts.empty() ? "nothing to change" : fmt::format("{}", fmt::join(parts, "; ")); }
};

AgentCore::AgentCore(Policy policy, AgentOptions opts, EventSource& src, TargetFactory attach, std::FILE* log,
                     AgentObserver* observer)
    : policy_(std::move(policy)), o_(opts), src_(src), attach_(std::move(attach)), log_(log), observer_(observer),
      t0_(monotonic_ns()), self_(::getpid()),
      all_claims_(static_cast<std::uint64_t>(std::max(0, opts.max_hold_ms)) * 1'000'000) {}

AgentCore::~AgentCore() { finish(monotonic_ns()); }

void AgentCore::log(const std::string& line) {
  if (!log_) return;
  fmt::print(log_, "[{:9.3f}s] {}\n", static_cast<double>(monotonic_ns() - t0_) / 1e9, line);
  std::fflush(log_);
}

std::string AgentCore::who(const Member& m) const { return fmt::format("pid {} ({})", m.pid, m.cls.facts.comm); }

AgentCore::Member* AgentCore::member(pid_t pid) {
  auto it = members_.find(pid);
  return it == members_.end() ? nullptr : it->second.get();
}

const AgentCore::Member* AgentCore::member(pid_t pid) const {
  auto it = members_.find(pid);
  return it == members_.end() ? nullptr : it->second.get();
}

AgentCore::Group& AgentCore::group(std::uint32_t gpu) {
  auto& g = groups_[gpu];
  if (!g) {
    g = std::make_unique<Group>();
    g->gpu = gpu;
    g->claims = ClaimBook(static_cast<std::uint64_t>(std::max(0, o_.max_hold_ms)) * 1'000'000);
    g->det = std::make_unique<OnlineDetector>(
        DetectorConfig{static_cast<std::uint64_t>(o_.idle_ms) * 1'000'000,
                       static_cast<std::uint64_t>(o_.min_hold_ms) * 1'000'000, 3},
        monotonic_ns());
  }
  return *g;
}

// ---- membership -------------------------------------------------------------

void AgentCore::start(const std::vector<pid_t>& pids, std::uint64_t now) {
  for (pid_t pid : pids) add_process(pid, now);
  log(fmt::format("{} KFD process(es) at start: {} online, {} offline, {} ignored", members_.size(),
                  std::count_if(members_.begin(), members_.end(), [](auto& kv) { return kv.second->role() == Role::Online; }),
                  std::count_if(members_.begin(), members_.end(), [](auto& kv) { return kv.second->role() == Role::Offline; }),
                  std::count_if(members_.begin(), members_.end(), [](auto& kv) { return kv.second->role() == Role::Ignored; })));
}

void AgentCore::add_process(pid_t pid, std::uint64_t now) {
  if (finished_ || pid <= 0 || pid == self_ || members_.count(pid)) return;
  auto m = std::make_unique<Member>();
  m->pid = pid;
  m->cls = classify_process(policy_, pid);
  if (m->cls.gone) return;  // exited before it could be looked at
  m->joined_ns = now;
  m->kfd_gpus = kfd_gpus_of(pid);
  ++classified_;
  if (!m->cls.verdict.also.empty()) ++conflicts_;
  if (m->cls.verdict.env_unknown) ++env_unreadable_;

  const auto& id = m->cls.identity;
  std::string where;
  if (!id.pod_uid.empty()) where += fmt::format(" pod {}", id.pod_uid);
  if (!id.container_id.empty())
    where += fmt::format(" container {}{}", id.container_id.substr(0, 12), id.runtime.empty() ? "" : " (" + id.runtime + ")");
  if (!id.qos.empty()) where += fmt::format(" qos {}", id.qos);
  if (where.empty() && !id.unit.empty()) where = " unit " + id.unit;
  const std::string notes = verdict_notes(policy_, m->cls);
  log(fmt::format("{}: {} by rule \"{}\"{}{}", who(*m), to_string(m->role()), m->cls.rule,
                  where.empty() ? "" : ";" + where, notes.empty() ? "" : "; " + notes));

  if (m->role() == Role::Offline && !o_.read_only) {
    try {
      auto ctl = std::make_unique<PreemptController>();
      ctl->add_target(attach_(pid));
      m->ctl = std::move(ctl);
      log(fmt::format("{}: attached (ptrace and KFD debug session); suspended whenever a GPU it uses is claimed",
                      who(*m)));
    } catch (const UserError& e) {
      m->error = e.what();
      log(fmt::format("{}: cannot be preempted: {}", who(*m), e.what()));
    }
  }
  Member& ref = *m;
  members_[pid] = std::move(m);
  set_gpus(ref, gpus_for(ref), now);
  rebuild_watched();
  HoldResult r = apply_holds(now);  // it joins a GPU that is claimed now: held at once
  if (!r.parts.empty() || !r.ok)
    log(fmt::format("joins a suspended GPU: {}{}", r.text(),
                    r.ok ? "" : fmt::format(" FAILED: {}", fmt::join(r.failures, "; "))));
  dirty_state_ = true;
}

void AgentCore::remove_process(pid_t pid, const std::string& why, std::uint64_t now) {
  Member* m = member(pid);
  if (!m) return;
  log(fmt::format("{} ({}) left: {}", who(*m), to_string(m->role()), why));
  const auto gpus = m->gpus;
  m->gpus.clear();
  for (auto gpu : gpus) leave(*m, gpu, now);
  apply_holds(now);  // releases m (in no group now) and whatever its leaving freed
  if (m->ctl) {
    m->ctl->detach_all();
    for (const auto& n : m->ctl->take_notes()) log(n);
  }
  members_.erase(pid);  // ~Target: the tracer thread detaches and ends
  drop_empty_groups();
  rebuild_watched();
  dirty_state_ = true;
}

std::vector<std::uint32_t> AgentCore::gpus_for(const Member& m) const {
  std::set<std::uint32_t> gpus;
  for (const auto& e : src_.map().queues_of(static_cast<std::uint32_t>(m.pid))) gpus.insert(e.info.gpu_id);
  if (gpus.empty()) gpus.insert(m.kfd_gpus.begin(), m.kfd_gpus.end());
  if (gpus.empty()) gpus.insert(0);
  return {gpus.begin(), gpus.end()};
}

void AgentCore::set_gpus(Member& m, std::vector<std::uint32_t> gpus, std::uint64_t now) {
  if (gpus == m.gpus) return;
  const auto old = m.gpus;
  if (!old.empty())
    log(fmt::format("{}: GPU(s) {} -> {}", who(m), fmt::join(old, ","), fmt::join(gpus, ",")));
  m.gpus = gpus;
  for (auto gpu : old)
    if (!std::count(gpus.begin(), gpus.end(), gpu)) leave(m, gpu, now);
  for (auto gpu : gpus)
    if (!std::count(old.begin(), old.end(), gpu)) join(m, gpu, now);
  dirty_state_ = true;
}

void AgentCore::join(Member& m, std::uint32_t gpu, std::uint64_t now) {
  if (m.role() == Role::Ignored) return;
  Group& g = group(gpu);
  if (m.role() == Role::Offline) {
    g.offline.insert(m.pid);
    return;
  }
  g.online.insert(m.pid);
  if (o_.read_only) return;
  if (g.fell_back) {
    // Another online process: maybe one whose memory can be read.
    g.det = std::make_unique<OnlineDetector>(
        DetectorConfig{static_cast<std::uint64_t>(o_.idle_ms) * 1'000'000,
                       static_cast<std::uint64_t>(o_.min_hold_ms) * 1'000'000, 3},
        now);
    g.fell_back = false;
    for (pid_t p : g.online) g.det->add_process(p);
    log(fmt::format("GPU {}: online membership changed: automatic detection starts again", gpu));
  } else {
    g.det->add_process(m.pid);
  }
  sync_online_queues(m);
}

void AgentCore::leave(Member& m, std::uint32_t gpu, std::uint64_t now) {
  auto it = groups_.find(gpu);
  if (it == groups_.end()) return;
  Group& g = *it->second;
  g.offline.erase(m.pid);
  if (g.online.erase(m.pid) && !o_.read_only) act(g, g.det->process_exited(m.pid, now), now);
}

void AgentCore::sync_online_queues(Member& m) {
  if (m.role() != Role::Online || o_.read_only) return;
  const auto queues = src_.map().queues_of(static_cast<std::uint32_t>(m.pid));
  for (auto gpu : m.gpus) {
    auto it = groups_.find(gpu);
    if (it == groups_.end()) continue;
    std::vector<std::uint64_t> ids;
    for (const auto& e : queues)
      if (e.info.format == GP_QFMT_AQL && e.info.rptr_addr && e.info.wptr_addr && (e.info.gpu_id == gpu || gpu == 0))
        ids.push_back(e.info.queue_kptr);
    it->second->det->set_queues(m.pid, ids);
  }
}

void AgentCore::rebuild_watched() {
  watched_queues_.clear();
  queue_gpu_.clear();
  if (o_.read_only) return;
  for (const auto& [pid, m] : members_) {
    if (m->role() != Role::Online) continue;
    for (const auto& e : src_.map().queues_of(static_cast<std::uint32_t>(pid))) {
      if (e.info.format != GP_QFMT_AQL || !e.info.rptr_addr || !e.info.wptr_addr) continue;
      watched_queues_.push_back({pid, e.info.queue_kptr, e.info.qid, e.info.rptr_addr, e.info.wptr_addr});
      queue_gpu_[e.info.queue_kptr] = e.info.gpu_id;
    }
  }
}

void AgentCore::drop_empty_groups() {
  std::erase_if(groups_, [&](const auto& kv) {
    const Group& g = *kv.second;
    return g.online.empty() && g.offline.empty() && !g.claims.held();
  });
}

std::vector<pid_t> AgentCore::online_pids() const {
  std::vector<pid_t> out;
  for (const auto& [pid, m] : members_)
    if (m->role() == Role::Online) out.push_back(pid);
  return out;
}

std::vector<WatchedQueue> AgentCore::watched_queues() const { return watched_queues_; }

// ---- events -----------------------------------------------------------------

void AgentCore::on_event(const Event& ev, MapChange change, const QueueMap& map) {
  const auto tgid = static_cast<pid_t>(ev.raw.tgid);
  switch (ev.kind()) {
    case EventKind::ProcessCreate:
      if (ev.raw.ret == 0 && primary_context(ev)) pending_.emplace_back(EventKind::ProcessCreate, tgid);
      return;
    case EventKind::ProcessRelease:
      if (primary_context(ev)) pending_.emplace_back(EventKind::ProcessRelease, tgid);
      break;
    case EventKind::Preempt: {
      // A span our own SUSPEND/RESUME caused: its owner's controller keeps it.
      if (Member* m = member(static_cast<pid_t>(ev.raw.pre.cause_tgid)); m && m->ctl) m->ctl->on_event(ev, change, map);
      return;
    }
    default:
      break;
  }
  Member* m = member(tgid);
  if (!m) return;
  if (m->ctl) m->ctl->on_event(ev, change, map);  // suspends queues created while held, unblocks destroys
  if (change == MapChange::Added || change == MapChange::Removed || ev.kind() == EventKind::ProcessSweep)
    dirty_.insert(tgid);
}

void AgentCore::on_loss(std::uint64_t total) {
  (void)total;
  rescan_ = true;  // a process_create may have been lost
}

void AgentCore::after_pump(std::uint64_t now) {
  for (auto& m : members_)
    if (m.second->ctl)
      for (const auto& n : m.second->ctl->take_notes()) log(n);
  auto pending = std::exchange(pending_, {});
  for (auto [kind, pid] : pending) {
    if (kind == EventKind::ProcessCreate) {
      add_process(pid, now);
    } else {
      remove_process(pid, "its KFD process ended (exit or exec)", now);
    }
  }
  auto dirty = std::exchange(dirty_, {});
  if (dirty.empty()) return;
  for (pid_t pid : dirty) {
    Member* m = member(pid);
    if (!m) continue;
    if (src_.map().queues_of(static_cast<std::uint32_t>(pid)).empty()) m->kfd_gpus = kfd_gpus_of(pid);
    set_gpus(*m, gpus_for(*m), now);
    sync_online_queues(*m);
    dirty_state_ = true;
  }
  rebuild_watched();
  apply_holds(now);
  // A pending hold: its runtime may be enabled now (its queues come after).
  for (pid_t pid : dirty)
    if (Member* m = member(pid); m && m->pending && wanted(*m)) {
      HoldResult r;
      m->pending = false;
      hold(*m, now, r);
      if (m->held) log(fmt::format("held now that it has queues: {}", r.text()));
    }
}

void AgentCore::rescan(const std::vector<pid_t>& pids, std::uint64_t now) {
  rescan_ = false;
  for (pid_t pid : pids)
    if (!members_.count(pid)) add_process(pid, now);
}

void AgentCore::reap(std::uint64_t now) {
  std::vector<pid_t> gone;
  for (const auto& [pid, m] : members_) {
    bool target_gone = m->ctl && m->ctl->all_gone();
    if (target_gone || !process_exists(static_cast<std::uint32_t>(pid))) gone.push_back(pid);
  }
  for (pid_t pid : gone) remove_process(pid, "it exited", now);
}

// ---- holds ------------------------------------------------------------------

bool AgentCore::claimed(const Group& g) const {
  return (g.det && g.det->suspended()) || g.claims.held() || all_claims_.held();
}

bool AgentCore::wanted(const Member& m) const {
  if (m.role() != Role::Offline) return false;
  for (auto gpu : m.gpus) {
    auto it = groups_.find(gpu);
    if (it != groups_.end() && claimed(*it->second)) return true;
  }
  return false;
}

bool AgentCore::hold(Member& m, std::uint64_t now, HoldResult& r) {
  if (!m.ctl || m.held) return true;
  auto ops = m.ctl->suspend_all(src_.map());
  for (const auto& n : m.ctl->take_notes()) log(n);
  if (ops.empty()) return true;  // the target is gone; its exit is on the way
  const QueueOpReport& rep = ops.front().report;
  if (!rep.refused.empty()) {
    if (m.ctl->all_gone()) return true;
    // Its runtime is not enabled yet (a process just created): it has no
    // queues, and is held as soon as the map shows one.
    m.pending = true;
    r.parts.push_back(fmt::format("{}: {}; held as soon as it is", who(m), rep.refused));
    return true;
  }
  const OpTally t = tally_ops(ops);
  if (!t.ok) {
    r.ok = false;
    r.failures.push_back(describe_op_failures(ops));
    m.ctl->resume_all();  // half a suspension is worse than none
    return false;
  }
  m.held = true;
  m.pending = false;
  m.held_since = now;
  r.done += t.done;
  r.asked += t.asked;
  r.slowest_suspend_ns = std::max(r.slowest_suspend_ns, t.slowest_ioctl_ns);
  r.parts.push_back(fmt::format("{}: {}", who(m),
                                t.issued ? fmt::format("{}, queues {}/{}", us(t.slowest_ioctl_ns), t.done, t.asked)
                                         : "no queues in the map yet (new ones are suspended as they come)"));
  return true;
}

void AgentCore::release(Member& m, std::uint64_t now, HoldResult& r) {
  m.pending = false;
  if (!m.ctl || !m.held) return;
  auto ops = m.ctl->resume_all();
  for (const auto& n : m.ctl->take_notes()) log(n);
  m.held = false;
  m.held_ns += now - m.held_since;
  m.held_since = 0;
  const OpTally t = tally_ops(ops);
  r.slowest_resume_ns = std::max(r.slowest_resume_ns, t.slowest_ioctl_ns);
  if (!t.ok) {
    r.ok = false;
    r.failures.push_back(describe_op_failures(ops));
  }
  r.parts.push_back(fmt::format("{}: {}", who(m),
                                t.issued ? fmt::format("{}, queues {}/{}", us(t.slowest_ioctl_ns), t.done, t.asked)
                                         : "no queues to resume"));
}

AgentCore::HoldResult AgentCore::apply_holds(std::uint64_t now) {
  HoldResult r;
  if (o_.read_only) return r;
  for (auto& [pid, m] : members_) {
    if (m->role() != Role::Offline || !m->ctl) continue;
    const bool want = wanted(*m);
    if (want && !m->held && !m->pending) hold(*m, now, r);
    else if (!want && (m->held || m->pending)) release(*m, now, r);
  }
  if (!r.parts.empty()) dirty_state_ = true;
  return r;
}

void AgentCore::act(Group& g, DetectorAction a, std::uint64_t now) {
  switch (a) {
    case DetectorAction::None:
      return;
    case DetectorAction::Suspend: {
      const DetectorReason reason = g.det->reason();
      const SuspendTrigger trigger = reason.by_doorbell ? SuspendTrigger::Doorbell : SuspendTrigger::Poll;
      std::optional<std::uint64_t> detect;
      if (reason.by_doorbell) detect = reason.doorbell_ns;
      else if (reason.bound_ns) detect = reason.bound_ns;
      const std::string cause = fmt::format(
          "online pid {} queue {:#x}: {}{}", reason.pid, reason.queue, reason.why,
          reason.by_doorbell ? fmt::format(", {} after the store", us(reason.doorbell_ns))
          : reason.bound_ns  ? fmt::format(", within {}", us(reason.bound_ns))
                             : "");
      HoldResult r = apply_holds(now);
      if (!r.ok) {
        g.det->action_failed(a, now);
        apply_holds(now);  // undo what no group wants any more
        log(fmt::format("GPU {}: suspend ({}) FAILED: {}", g.gpu, cause, fmt::join(r.failures, "; ")));
        return;
      }
      g.det->suspend_done(monotonic_ns());
      ++g.suspends;
      ++suspend_total_[trigger];
      dirty_state_ = true;
      if (observer_) observer_->on_suspend(g.gpu, trigger, detect, r.slowest_suspend_ns);
      log(fmt::format("GPU {}: suspend ({}): {}", g.gpu, cause,
                      g.offline.empty() ? "no offline process on this GPU" : r.text()));
      return;
    }
    case DetectorAction::Resume: {
      const std::string why = g.det->reason().why;
      if (claimed(g)) {
        log(fmt::format("GPU {}: online idle ({}), but a ctl claim still holds it", g.gpu, why));
        return;
      }
      HoldResult r = apply_holds(now);
      ++g.resumes;
      ++resume_total_;
      dirty_state_ = true;
      if (observer_) observer_->on_resume(g.gpu, r.slowest_resume_ns);
      log(fmt::format("GPU {}: resume ({}): {}{}", g.gpu, why, r.text(),
                      r.ok ? "" : fmt::format(" FAILED: {}", fmt::join(r.failures, "; "))));
      return;
    }
    case DetectorAction::Fallback: {
      const DetectorReason reason = g.det->reason();
      g.fell_back = true;
      HoldResult r = apply_holds(now);
      log(fmt::format("GPU {}: cannot watch online pid {}: {} ({}: {}); automatic detection stops on this GPU "
                      "until its online processes change (ctl claims still work){}",
                      g.gpu, reason.pid, reason.why, errno_name(-reason.error), read_advice(reason.error),
                      r.parts.empty() ? "" : "; " + r.text()));
      dirty_state_ = true;
      return;
    }
  }
}

// ---- online demand ------------------------------------------------------------

void AgentCore::on_doorbell(pid_t pid, std::uint64_t aql_queue, std::uint64_t index, std::uint64_t at,
                            std::uint64_t now) {
  const Member* m = member(pid);
  if (!m || m->role() != Role::Online || o_.read_only) return;
  // The GPU of the queue it rang, when the map knows it; else every GPU of the process.
  std::vector<std::uint32_t> gpus = m->gpus;
  for (const auto& e : src_.map().queues_of(static_cast<std::uint32_t>(pid)))
    if (e.info.wptr_addr == aql_queue + kWriteDispatchIdOffset &&
        std::count(m->gpus.begin(), m->gpus.end(), e.info.gpu_id)) {
      gpus = {e.info.gpu_id};
      break;
    }
  for (auto gpu : gpus) {
    auto it = groups_.find(gpu);
    if (it == groups_.end()) continue;
    Group& g = *it->second;
    act(g, g.det->doorbell(pid, aql_queue, index, at, now), now);
  }
}

void AgentCore::on_read(const PointerRead& r, std::uint64_t now) {
  auto q = queue_gpu_.find(r.id);
  if (q == queue_gpu_.end()) return;
  const Member* m = member(r.pid);
  if (!m) return;
  // A queue whose GPU is not (yet) one of the process's groups feeds them all.
  std::vector<std::uint32_t> gpus = m->gpus;
  if (std::count(gpus.begin(), gpus.end(), q->second)) gpus = {q->second};
  for (auto gpu : gpus) {
    auto it = groups_.find(gpu);
    if (it == groups_.end()) continue;
    Group& g = *it->second;
    if (r.err && r.err != ESRCH && !g.warned[r.id]) {
      g.warned[r.id] = true;
      log(fmt::format("GPU {}: online pid {} queue {:#x}: cannot read its dispatch ids: {} ({})", gpu, r.pid, r.id,
                      errno_name(-r.err), read_advice(r.err)));
    }
    act(g, r.err ? g.det->unreadable(r.pid, r.id, r.err, now) : g.det->observe(r.pid, r.id, r.wptr, r.rptr, now), now);
  }
}

void AgentCore::on_unreadable(pid_t pid, int err, std::uint64_t now) {
  const Member* m = member(pid);
  if (!m) return;
  for (auto gpu : m->gpus) {
    auto it = groups_.find(gpu);
    if (it == groups_.end()) continue;
    act(*it->second, it->second->det->unreadable(pid, 0, err, now), now);
  }
}

void AgentCore::tick(std::uint64_t now) {
  if (o_.read_only) return;
  for (auto& [gpu, g] : groups_) act(*g, g->det->tick(now), now);
  // Claims held longer than --max-hold-ms.
  std::vector<std::string> expired;
  for (auto& h : all_claims_.expire(now)) expired.push_back(h + " (every GPU)");
  for (auto& [gpu, g] : groups_)
    for (auto& h : g->claims.expire(now)) expired.push_back(fmt::format("{} (GPU {})", h, gpu));
  if (!expired.empty()) {
    log(fmt::format("{} claim(s) reached --max-hold-ms {}: {}", expired.size(), o_.max_hold_ms, fmt::join(expired, ", ")));
    HoldResult r = apply_holds(now);
    if (!r.parts.empty()) log(fmt::format("resume (max hold reached): {}", r.text()));
    drop_empty_groups();
  }
  // Pending holds: the runtime handshake is answered on the target's own
  // thread, so ask again now and then (a thread hop each, while pending).
  if (now - last_retry_ns_ >= 100'000'000) {
    last_retry_ns_ = now;
    for (auto& [pid, m] : members_)
      if (m->pending && wanted(*m)) {
        HoldResult r;
        m->pending = false;
        hold(*m, now, r);
        if (m->held) log(fmt::format("held now that its runtime is enabled: {}", r.text()));
        dirty_state_ = true;
      }
  }
}

bool AgentCore::wants_doorbell_wakeup() const {
  for (const auto& [gpu, g] : groups_)
    if (!g->online.empty() && !g->fell_back && !g->det->suspended()) return true;
  return false;
}

std::uint64_t AgentCore::next_deadline() const {
  std::uint64_t d = 0;
  for (const auto& [gpu, g] : groups_) {
    std::uint64_t x = g->det->next_deadline();
    if (auto c = g->claims.next_deadline()) x = x ? std::min(x, *c) : *c;
    if (x && (!d || x < d)) d = x;
  }
  if (auto c = all_claims_.next_deadline(); c && (!d || *c < d)) d = *c;
  return d;
}

// ---- control requests ---------------------------------------------------------

bool AgentCore::gpu_exists(std::uint32_t gpu) const {
  if (gpu == 0 || groups_.count(gpu)) return true;
  // KFD's topology: nodes/0, nodes/1, ...; a CPU node's gpu_id is 0.
  for (int node = 0; node < 1024; ++node) {
    std::string id;
    if (!read_text_file(host_path(fmt::format("/sys/class/kfd/kfd/topology/nodes/{}/gpu_id", node)), id)) break;
    if (id == std::to_string(gpu)) return true;
  }
  return false;
}

std::string AgentCore::handle(const ControlRequest& req, std::uint64_t now) {
  using Kind = ControlRequest::Kind;
  if (req.kind == Kind::Invalid) return "err " + req.error;
  if (req.kind == Kind::Status) {
    if (req.gpu && !groups_.count(*req.gpu))
      return gpu_exists(*req.gpu) ? fmt::format("ok gpu={} state=running online=- offline=- claims=0 holders=-", *req.gpu)
                                  : fmt::format("err no GPU with gpu_id {}", *req.gpu);
    return "ok " + status_fields(req.gpu);
  }
  if (o_.read_only) return "err the agent runs --read-only: it classifies and reports, never suspends";
  if (req.gpu && !gpu_exists(*req.gpu)) {
    std::vector<std::uint32_t> known;
    for (const auto& [gpu, g] : groups_) known.push_back(gpu);
    return fmt::format("err no GPU with gpu_id {} (groups now: {})", *req.gpu,
                       known.empty() ? std::string("none") : fmt::format("{}", fmt::join(known, ",")));
  }
  const std::string scope = req.gpu ? fmt::format("GPU {}", *req.gpu) : std::string("every GPU");
  const std::string gpu_field = req.gpu ? fmt::format(" gpu={}", *req.gpu) : std::string();
  ClaimBook& book = req.gpu ? group(*req.gpu).claims : all_claims_;

  std::map<std::uint32_t, bool> before;
  for (const auto& [gpu, g] : groups_) before[gpu] = claimed(*g);
  auto count_changes = [&](bool suspended_now, std::uint64_t ioctl_ns) {
    for (const auto& [gpu, g] : groups_) {
      const bool was = before.count(gpu) && before[gpu];
      if (suspended_now && !was && claimed(*g)) {
        ++g->suspends;
        ++suspend_total_[SuspendTrigger::Ctl];
        if (observer_) observer_->on_suspend(gpu, SuspendTrigger::Ctl, std::nullopt, ioctl_ns);
      } else if (!suspended_now && was && !claimed(*g)) {
        ++g->resumes;
        ++resume_total_;
        if (observer_) observer_->on_resume(gpu, ioctl_ns);
      }
    }
    dirty_state_ = true;
  };

  if (req.kind == Kind::Suspend) {
    if (!book.acquire(req.holder, now)) return fmt::format("ok held{} claims={}", gpu_field, book.size());
    HoldResult r = apply_holds(now);
    if (!r.ok) {
      book.release(req.holder);
      apply_holds(now);
      drop_empty_groups();
      const std::string why = fmt::format("{}", fmt::join(r.failures, "; "));
      log(fmt::format("ctl: suspend of {} for {} failed: {}", scope, req.holder, why));
      return "err suspend failed: " + why;
    }
    count_changes(true, r.slowest_suspend_ns);
    log(fmt::format("ctl: suspend of {} for {}: {}", scope, req.holder, r.text()));
    return fmt::format("ok suspended{} claims={} queues={}/{} suspend_us={:.0f}", gpu_field, book.size(), r.done,
                       r.asked, static_cast<double>(r.slowest_suspend_ns) / 1e3);
  }
  // Resume.
  switch (book.release(req.holder)) {
    case ClaimBook::Release::NotHeld:
      drop_empty_groups();
      return fmt::format("err {} holds no claim on {}", req.holder, scope);
    case ClaimBook::Release::StillHeld:
      return fmt::format("ok held{} claims={}", gpu_field, book.size());
    case ClaimBook::Release::Freed:
      break;
  }
  HoldResult r = apply_holds(now);
  count_changes(false, r.slowest_resume_ns);
  drop_empty_groups();
  log(fmt::format("ctl: {} released by {}: {}{}", scope, req.holder, r.text(),
                  r.ok ? "" : fmt::format(" FAILED: {}", fmt::join(r.failures, "; "))));
  std::size_t resumed = 0;
  for (const auto& p : r.parts) resumed += !p.empty();
  return fmt::format("ok resumed{} claims=0 processes={} resume_us={:.0f}", gpu_field, resumed,
                     static_cast<double>(r.slowest_resume_ns) / 1e3);
}

std::string AgentCore::status_fields(std::optional<std::uint32_t> gpu) const {
  auto holders_text = [](const std::map<std::string, int>& h) {
    std::vector<std::string> v;
    for (const auto& [k, n] : h) v.push_back(fmt::format("{}:{}", k, n));
    return v.empty() ? std::string("-") : fmt::format("{}", fmt::join(v, ","));
  };
  auto pids_text = [](const std::set<pid_t>& s) {
    return s.empty() ? std::string("-") : fmt::format("{}", fmt::join(s, ","));
  };
  if (gpu) {
    const Group& g = *groups_.at(*gpu);
    std::set<pid_t> held;
    for (pid_t p : g.offline)
      if (const Member* m = member(p); m && m->held) held.insert(p);
    return fmt::format("gpu={} state={} online={} offline={} held={} claims={} holders={} detection={} "
                       "suspends={} resumes={}",
                       g.gpu, claimed(g) ? "suspended" : "running", pids_text(g.online), pids_text(g.offline),
                       pids_text(held), g.claims.size(), holders_text(g.claims.holders()),
                       o_.read_only ? "off" : g.fell_back ? "fallen-back" : g.det->suspended() ? "busy" : "watching",
                       g.suspends, g.resumes);
  }
  std::size_t online = 0, offline = 0, ignored = 0, held = 0;
  for (const auto& [pid, m] : members_) {
    online += m->role() == Role::Online;
    offline += m->role() == Role::Offline;
    ignored += m->role() == Role::Ignored;
    held += m->held;
  }
  std::vector<std::string> gpus;
  bool any = false;
  for (const auto& [id, g] : groups_) {
    gpus.push_back(fmt::format("{}:{}", id, claimed(*g) ? "suspended" : "running"));
    any = any || claimed(*g);
  }
  std::uint64_t suspends = 0;
  for (const auto& [t, n] : suspend_total_) suspends += n;
  return fmt::format(
      "state={} mode={} gpus={} processes={} online={} offline={} ignored={} held={} claims={} holders={} "
      "suspends={} suspends_doorbell={} suspends_poll={} suspends_ctl={} resumes={} policy={} rules={}",
      any ? "suspended" : "running", o_.read_only ? "read-only" : "full",
      gpus.empty() ? std::string("-") : fmt::format("{}", fmt::join(gpus, ",")), members_.size(), online, offline,
      ignored, held, all_claims_.size(), holders_text(all_claims_.holders()), suspends,
      suspend_total_.count(SuspendTrigger::Doorbell) ? suspend_total_.at(SuspendTrigger::Doorbell) : 0,
      suspend_total_.count(SuspendTrigger::Poll) ? suspend_total_.at(SuspendTrigger::Poll) : 0,
      suspend_total_.count(SuspendTrigger::Ctl) ? suspend_total_.at(SuspendTrigger::Ctl) : 0, resume_total_,
      policy_.file, policy_.rules.size());
}

// ---- state ------------------------------------------------------------------

AgentState AgentCore::build_state() const {
  AgentState s;
  s.read_only = o_.read_only;
  s.policy_file = policy_.file;
  s.rules = policy_.rules.size();
  s.started_ns = t0_;
  for (const auto& [pid, m] : members_) {
    AgentProcessState p;
    p.pid = pid;
    p.comm = m->cls.facts.comm;
    p.role = m->role();
    p.rule = m->cls.rule;
    p.pod_uid = m->cls.identity.pod_uid;
    p.container_id = m->cls.identity.container_id;
    p.qos = m->cls.identity.qos;
    p.runtime = m->cls.identity.runtime;
    p.cgroup = m->cls.identity.path;
    p.gpu_ids = m->gpus;
    std::map<std::pair<std::uint32_t, std::string>, std::uint32_t> counts;
    for (const auto& e : src_.map().queues_of(static_cast<std::uint32_t>(pid)))
      ++counts[{e.info.gpu_id, std::string(queue_type_name(e.info.type))}];
    for (const auto& [k, n] : counts) p.queues.push_back({k.first, k.second, n});
    p.suspended = m->held;
    p.suspended_since_ns = m->held ? m->held_since : 0;
    p.suspended_seconds = static_cast<double>(m->held_ns) / 1e9;  // the open part is added at snapshot()
    p.hold_pending = m->pending;
    p.error = m->error;
    p.joined_ns = m->joined_ns;
    s.processes.push_back(std::move(p));
  }
  for (const auto& [gpu, g] : groups_) {
    AgentGpuState x;
    x.gpu_id = gpu;
    x.online.assign(g->online.begin(), g->online.end());
    x.offline.assign(g->offline.begin(), g->offline.end());
    x.suspended = claimed(*g);
    x.online_busy = g->det->suspended();
    x.detection = !o_.read_only && !g->fell_back;
    x.claims = g->claims.size();
    x.holders = g->claims.holders();
    x.suspends = g->suspends;
    x.resumes = g->resumes;
    s.gpus.push_back(std::move(x));
  }
  s.claims = all_claims_.size();
  s.holders = all_claims_.holders();
  s.suspend_total = suspend_total_;
  for (auto t : {SuspendTrigger::Doorbell, SuspendTrigger::Poll, SuspendTrigger::Ctl}) s.suspend_total.try_emplace(t, 0);
  s.resume_total = resume_total_;
  s.classified_total = classified_;
  s.classification_conflicts = conflicts_;
  s.env_unreadable = env_unreadable_;
  return s;
}

void AgentCore::publish(std::uint64_t now) {
  (void)now;
  if (!dirty_state_) return;
  AgentState s = build_state();
  std::lock_guard lk(state_mu_);
  published_ = std::move(s);
  dirty_state_ = false;
}

AgentState AgentCore::snapshot(std::uint64_t now) const {
  AgentState s;
  {
    std::lock_guard lk(state_mu_);
    s = published_;
  }
  for (auto& p : s.processes)
    if (p.suspended && now > p.suspended_since_ns)
      p.suspended_seconds += static_cast<double>(now - p.suspended_since_ns) / 1e9;
  return s;
}

// ---- the end ----------------------------------------------------------------

void AgentCore::finish(std::uint64_t now) {
  if (finished_) return;
  finished_ = true;
  all_claims_.clear();
  for (auto& [gpu, g] : groups_) g->claims.clear();
  std::uint64_t held_total = 0;
  for (auto& [pid, m] : members_) {
    if (!m->ctl) continue;
    if (m->held) {
      HoldResult r;
      release(*m, now, r);
      log(fmt::format("stopping: resumed {}", r.text()));
    }
    m->ctl->detach_all();
    for (const auto& n : m->ctl->take_notes()) log(n);
    held_total += m->held_ns;
    log(fmt::format("{}: {}; suspended {:.3f} s in all", who(*m),
                    m->ctl->all_gone() ? "gone; nothing to undo" : "queues resumed, debugging disabled, detached",
                    static_cast<double>(m->held_ns) / 1e9));
  }
  std::uint64_t suspends = 0;
  for (const auto& [t, n] : suspend_total_) suspends += n;
  if (log_) {
    fmt::print(log_,
               "--- agent: {} process(es) classified ({} matched more than one rule); {} suspension(s) "
               "(doorbell {}, poll {}, ctl {}), {} resume(s); offline processes suspended {:.3f} s in all ---\n",
               classified_, conflicts_, suspends,
               suspend_total_.count(SuspendTrigger::Doorbell) ? suspend_total_.at(SuspendTrigger::Doorbell) : 0,
               suspend_total_.count(SuspendTrigger::Poll) ? suspend_total_.at(SuspendTrigger::Poll) : 0,
               suspend_total_.count(SuspendTrigger::Ctl) ? suspend_total_.at(SuspendTrigger::Ctl) : 0, resume_total_,
               static_cast<double>(held_total) / 1e9);
    std::fflush(log_);
  }
  members_.clear();  // every Target detached above; their threads end here
  groups_.clear();
  dirty_state_ = true;
  publish(now);
}

}  // namespace gp
