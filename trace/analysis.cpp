#include "trace/analysis.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace gp::trace {

const char* to_string(QueueState s) {
  switch (s) {
    case QueueState::Active: return "active";
    case QueueState::Inactive: return "inactive";
    case QueueState::Evicted: return "evicted";
    case QueueState::Suspended: return "suspended";
  }
  return "?";
}

QueueState state_of_flags(std::uint8_t f) {
  if (f & GP_QF_SUSPENDED) return QueueState::Suspended;
  if (f & GP_QF_EVICTED) return QueueState::Evicted;
  if (f & GP_QF_ACTIVE) return QueueState::Active;
  return QueueState::Inactive;
}

const char* to_string(EndReason r) {
  switch (r) {
    case EndReason::Event: return "state change";
    case EndReason::Destroyed: return "destroyed";
    case EndReason::TraceEnd: return "end of trace";
    case EndReason::Sweep: return "process sweep";
    case EndReason::Replaced: return "pointer reused (remove lost)";
  }
  return "?";
}

std::uint64_t Preemption::firmware_ns() const {
  if (info.send_return_ns == 0 || info.fence_return_ns < info.send_return_ns) return 0;
  return info.fence_return_ns - info.send_return_ns;
}

std::uint64_t Preemption::total_ns() const {
  return info.end_ns > info.t0_ns && info.t0_ns ? info.end_ns - info.t0_ns : info.total_ns;
}

std::uint64_t percentile(std::vector<std::uint64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

namespace {

class Analyzer {
 public:
  explicit Analyzer(const Trace& t) : t_(t) {
    a_.trace = &t;
    a_.start_ns = t.header.start_monotonic_ns;
    for (const auto& ev : t.events) a_.start_ns = std::min(a_.start_ns, ev.raw.ts_ns);
    a_.end_ns = t.end_monotonic_ns();
  }

  TraceAnalysis run() {
    for (const auto& iq : t_.header.initial_queues) {
      open_life(iq.pid, iq.queue, std::nullopt, a_.start_ns, Cause::None);
      lifecycle(a_.start_ns, "present", iq.pid, iq.queue.qid, iq.queue.gpu_id, describe(iq.queue));
    }
    std::vector<const Event*> order;
    order.reserve(t_.events.size());
    for (const auto& ev : t_.events) order.push_back(&ev);
    // Ring-buffer order is reservation order; CPUs can disagree by a few ns.
    std::stable_sort(order.begin(), order.end(),
                     [](const Event* a, const Event* b) { return a->raw.ts_ns < b->raw.ts_ns; });
    for (const Event* ev : order) {
      note_comm(*ev);
      handle(*ev);
    }
    for (auto& [kptr, idx] : live_) close_life(idx, a_.end_ns, EndReason::TraceEnd);
    live_.clear();
    link_victims();
    summarize_processes();
    return std::move(a_);
  }

 private:
  void handle(const Event& ev) {
    const gp_event& r = ev.raw;
    const std::uint64_t ts = r.ts_ns;
    switch (ev.kind()) {
      case EventKind::QueueAdd: {
        if (auto it = live_.find(r.q.queue_kptr); it != live_.end()) {
          close_life(it->second, ts, EndReason::Replaced);
          live_.erase(it);
        }
        open_life(r.tgid, r.q, ts, ts, ev.cause());
        lifecycle(ts, "create", r.tgid, r.q.qid, r.q.gpu_id, describe(r.q));
        break;
      }
      case EventKind::QueueSnapshot:
        if (auto* life = find(r.q.queue_kptr)) set_state(*life, r.q.flags, ts, ev.cause());
        else open_life(r.tgid, r.q, std::nullopt, ts, ev.cause());
        break;
      case EventKind::QueueState:
        if (auto* life = find(r.q.queue_kptr)) {
          set_state(*life, r.q.flags, ts, ev.cause());
          if (ev.cause() == Cause::Update) ++life->updates;
        } else {
          open_life(r.tgid, r.q, std::nullopt, ts, ev.cause());
        }
        break;
      case EventKind::QueueRemove: {
        auto it = live_.find(r.q.queue_kptr);
        if (it == live_.end()) {
          ++a_.unmatched_removes;
          lifecycle(ts, "destroy", r.tgid, r.q.qid, r.q.gpu_id, "(never seen created: lost event?)");
          break;
        }
        QueueLife& life = a_.lives[it->second];
        life.destroyed_ns = std::max(ts, life.begin_ns);
        life.destroy_cause = ev.cause();
        close_life(it->second, ts, EndReason::Destroyed);
        live_.erase(it);
        lifecycle(ts, "destroy", r.tgid, r.q.qid, r.q.gpu_id,
                  fmt::format("after {}, cause {}", format_duration(life.end_ns - life.begin_ns),
                              gp::to_string(ev.cause())));
        break;
      }
      case EventKind::ProcessSweep: {
        std::uint32_t swept = 0;
        for (auto it = live_.begin(); it != live_.end();) {
          QueueLife& life = a_.lives[it->second];
          if (life.attrs.proc_kptr != r.proc.proc_kptr) {
            ++it;
            continue;
          }
          life.destroyed_ns = std::max(ts, life.begin_ns);
          life.destroy_cause = ev.cause();
          close_life(it->second, ts, EndReason::Sweep);
          it = live_.erase(it);
          ++swept;
        }
        lifecycle(ts, "sweep", r.tgid, std::nullopt, 0,
                  fmt::format("process teardown, {} queue(s) still mapped were removed", swept));
        break;
      }
      case EventKind::QpdTerminate:
        lifecycle(ts, "terminate", r.tgid, std::nullopt, r.proc.gpu_id,
                  fmt::format("{} queue(s) unmapped", r.proc.queue_count));
        break;
      case EventKind::IoctlCreateQueue:
        if (r.ret < 0) {
          ++failed_creates_[r.tgid];
          lifecycle(ts, "create-failed", r.tgid, std::nullopt, r.io.gpu_id,
                    fmt::format("{} ring {} B: {}", ioctl_queue_type_name(r.io.queue_type), r.io.ring_size,
                                errno_name(r.ret)));
        }
        break;
      case EventKind::IoctlDestroyQueue:
        if (r.ret < 0) lifecycle(ts, "destroy-failed", r.tgid, r.io.qid, 0, errno_name(r.ret));
        break;
      case EventKind::IoctlUpdateQueue:
        lifecycle(ts, r.ret < 0 ? "update-failed" : "update", r.tgid, r.io.qid, 0,
                  fmt::format("priority {} percent {} ring {} B{}", r.io.priority, r.io.percent & 0xff,
                              r.io.ring_size, r.ret < 0 ? ": " + errno_name(r.ret) : std::string()));
        break;
      case EventKind::IoctlDbgTrap:
        // suspend_queues / resume_queues act on the target: its tgid when the
        // event has it, else the pid the ioctl named (the debugger passes the
        // target's tgid there); r.tgid is the debugger, never the target.
        if (r.io.dbg_op == 6 || r.io.dbg_op == 7)
          lifecycle(ts, dbg_trap_op_name(r.io.dbg_op).data(),
                    r.io.dbg_target_tgid ? r.io.dbg_target_tgid
                    : r.io.dbg_target_pid ? r.io.dbg_target_pid
                                          : r.tgid,
                    std::nullopt, 0,
                    fmt::format("{} queue(s) by pid {}: {}", r.io.dbg_num_queues, r.acting_tgid,
                                r.ret < 0 ? errno_name(r.ret) : fmt::format("{} done", r.ret)));
        break;
      case EventKind::ProcessCreate:
        lifecycle(ts, "process-open", r.tgid, std::nullopt, 0, fmt::format("pasid {}", r.proc.pasid));
        break;
      case EventKind::ProcessRelease:
        lifecycle(ts, "process-exit", r.tgid, std::nullopt, 0, "");
        break;
      case EventKind::Preempt: {
        Preemption p;
        p.ts_ns = r.pre.t0_ns ? r.pre.t0_ns : ts;
        p.cause = ev.cause();
        p.info = r.pre;
        p.seq = r.seq;
        p.acting_pid = r.acting_tgid;
        a_.preemptions.push_back(p);
        break;
      }
      case EventKind::PreemptVictim: {
        Victim v;
        v.pid = r.tgid;
        if (ev.has_queue()) {
          v.qid = r.q.qid;
          v.gpu_id = r.q.gpu_id;
          if (auto it = live_.find(r.q.queue_kptr); it != live_.end()) v.life = it->second;
        } else {
          v.qid = ~0u;
          v.gpu_id = r.pre.gpu_id;
        }
        victims_by_seq_[r.seq].push_back(v);
        break;
      }
      case EventKind::ProcessFree:
      case EventKind::IoctlDestroyBegin:
      case EventKind::KfdIoctl:
        break;
    }
  }

  static std::string format_duration(std::uint64_t ns) { return fmt::format("{:.6f} s", ns / 1e9); }

  static std::string describe(const gp_queue_info& q) {
    return fmt::format("{} {} priority {} percent {} ring {} B", queue_type_name(q.type),
                       queue_format_name(q.format), q.priority, q.percent, q.ring_size);
  }

  void note_comm(const Event& ev) {
    const gp_event& r = ev.raw;
    if (ev.comm().empty()) return;
    // The main thread's comm names a process best (workers are "pt_autograd_0").
    bool main_thread = r.tid == r.acting_tgid;
    auto& slot = comms_[r.acting_tgid];
    if (slot.empty() || (main_thread && !slot_is_main_[r.acting_tgid])) {
      slot = std::string(ev.comm());
      slot_is_main_[r.acting_tgid] = main_thread;
    }
  }

  QueueLife* find(std::uint64_t kptr) {
    auto it = live_.find(kptr);
    return it == live_.end() ? nullptr : &a_.lives[it->second];
  }

  void open_life(std::uint32_t pid, const gp_queue_info& q, std::optional<std::uint64_t> created,
                 std::uint64_t begin, Cause cause) {
    QueueLife life;
    life.pid = pid;
    life.attrs = q;
    life.created_ns = created;
    life.begin_ns = begin;
    life.spans.push_back({state_of_flags(q.flags), begin, begin, cause, EndReason::Event});
    a_.lives.push_back(std::move(life));
    live_[q.queue_kptr] = a_.lives.size() - 1;
  }

  void set_state(QueueLife& life, std::uint8_t flags, std::uint64_t ts, Cause cause) {
    life.attrs.flags = flags;
    QueueState s = state_of_flags(flags);
    StateSpan& last = life.spans.back();
    if (last.state == s) return;
    ts = std::max(ts, last.begin_ns);
    last.end_ns = ts;
    life.spans.push_back({s, ts, ts, cause, EndReason::Event});
  }

  void close_life(std::size_t idx, std::uint64_t ts, EndReason why) {
    QueueLife& life = a_.lives[idx];
    ts = std::max(ts, life.spans.back().begin_ns);
    life.end_ns = ts;
    life.ended_by = why;
    life.spans.back().end_ns = ts;
    life.spans.back().ended_by = why;
  }

  void lifecycle(std::uint64_t ts, std::string what, std::uint32_t pid, std::optional<std::uint32_t> qid,
                 std::uint32_t gpu, std::string detail) {
    a_.lifecycle.push_back({ts, std::move(what), pid, qid, gpu, std::move(detail)});
  }

  void link_victims() {
    std::stable_sort(a_.preemptions.begin(), a_.preemptions.end(),
                     [](const Preemption& x, const Preemption& y) { return x.ts_ns < y.ts_ns; });
    for (auto& p : a_.preemptions) {
      auto it = victims_by_seq_.find(p.seq);
      if (it == victims_by_seq_.end()) continue;
      p.victims = std::move(it->second);
      victims_by_seq_.erase(it);
      for (auto& v : p.victims) v.collateral = p.info.cause_tgid != 0 && v.pid != p.info.cause_tgid;
    }
    for (const auto& [seq, vs] : victims_by_seq_) a_.unmatched_victims += static_cast<std::uint32_t>(vs.size());
  }

  void summarize_processes() {
    // Lives are created in time order except initial/snapshot ones; sort the
    // indices, not the vector, so Victim::life stays valid.
    std::vector<std::size_t> by_begin(a_.lives.size());
    std::iota(by_begin.begin(), by_begin.end(), 0);
    std::stable_sort(by_begin.begin(), by_begin.end(),
                     [&](std::size_t x, std::size_t y) { return a_.lives[x].begin_ns < a_.lives[y].begin_ns; });
    for (std::size_t idx : by_begin) a_.processes[a_.lives[idx].pid].lives.push_back(idx);
    for (const auto& [pid, n] : failed_creates_) a_.processes[pid].failed_creates = n;

    for (auto& [pid, p] : a_.processes) {
      p.pid = pid;
      auto c = comms_.find(pid);
      p.comm = c != comms_.end() ? c->second : "[unknown]";
      const auto& h = t_.header;
      p.program = h.command && !h.command->empty() && !h.pids.empty() && h.pids.front() == pid
                      ? fmt::format("{}", fmt::join(*h.command, " "))
                      : p.comm;
      std::set<std::uint32_t> qids;
      std::optional<std::uint64_t> first_destroy;
      for (std::size_t idx : p.lives) {
        const QueueLife& l = a_.lives[idx];
        qids.insert(l.attrs.qid);
        if (l.created_ns) ++p.creates;
        if (l.destroyed_ns) {
          ++p.destroys;
          first_destroy = std::min(first_destroy.value_or(UINT64_MAX), *l.destroyed_ns);
        }
      }
      for (std::size_t idx : p.lives) {
        const QueueLife& l = a_.lives[idx];
        if (l.created_ns && first_destroy && *l.created_ns > *first_destroy) ++p.creates_after_first_destroy;
      }
      p.qids.assign(qids.begin(), qids.end());
      p.count = count_summary(p.lives);
    }
  }

  CountSummary count_summary(const std::vector<std::size_t>& lives) const {
    CountSummary s;
    if (lives.empty()) return s;
    std::vector<std::pair<std::uint64_t, int>> deltas;  // -1 sorts before +1 at equal ts
    for (std::size_t idx : lives) {
      deltas.emplace_back(a_.lives[idx].begin_ns, +1);
      deltas.emplace_back(a_.lives[idx].end_ns, -1);
    }
    std::sort(deltas.begin(), deltas.end());
    s.window_begin_ns = deltas.front().first;
    s.window_end_ns = deltas.back().first;
    long live = 0;
    double weighted = 0;
    bool any_interval = false;
    s.min = UINT32_MAX;
    for (std::size_t i = 0; i < deltas.size(); ++i) {
      live += deltas[i].second;
      if (i + 1 < deltas.size() && deltas[i + 1].first == deltas[i].first) continue;
      auto now = static_cast<std::uint32_t>(std::max(0L, live));
      s.steps.emplace_back(deltas[i].first, now);
      s.max = std::max(s.max, now);
      if (i + 1 < deltas.size() && deltas[i + 1].first > deltas[i].first) {
        std::uint64_t dur = deltas[i + 1].first - deltas[i].first;
        weighted += static_cast<double>(now) * static_cast<double>(dur);
        s.min = std::min(s.min, now);
        any_interval = true;
      }
    }
    std::uint64_t window = s.window_end_ns - s.window_begin_ns;
    if (!any_interval) s.min = s.max;
    s.mean = window ? weighted / static_cast<double>(window) : s.max;
    return s;
  }

  const Trace& t_;
  TraceAnalysis a_;
  std::unordered_map<std::uint64_t, std::size_t> live_;  // queue kptr -> index into lives
  std::unordered_map<std::uint64_t, std::vector<Victim>> victims_by_seq_;
  std::unordered_map<std::uint32_t, std::string> comms_;
  std::unordered_map<std::uint32_t, bool> slot_is_main_;
  std::map<std::uint32_t, std::uint32_t> failed_creates_;
};

}  // namespace

TraceAnalysis analyze(const Trace& trace) { return Analyzer(trace).run(); }

}  // namespace gp::trace
