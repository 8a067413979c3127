#include "online/auto_mode.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/stop_signal.h"
#include "host/cpu_latency_request.h"
#include "online/cpu_follow.h"
#include "online/poller.h"
#include "preempt/cycles.h"
#include "preempt/ptrace_tracer.h"
#include "trace/event.h"

namespace gp {

namespace {

// Why the loop ended.
enum class LoopEnd { Stopped, TargetsGone, OnlineExited, FellBack };

std::string_view describe(LoopEnd e) {
  switch (e) {
    case LoopEnd::Stopped: return "stopped";
    case LoopEnd::TargetsGone: return "every offline target is gone";
    case LoopEnd::OnlineExited: return "every online process has exited";
    case LoopEnd::FellBack: return "fell back";
  }
  return "?";
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::string pct(double f) { return fmt::format("{:.2f}%", 100.0 * f); }

// Per-errno advice for a failed read of the online process's memory.
std::string read_advice(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return "reading another process's memory needs ptrace access to it (root with CAP_SYS_PTRACE; "
             "Yama ptrace_scope 3 forbids it even to root; an LSM may deny it)";
    case ESRCH:
      return "the process is gone";
    default:
      return "the addresses the map gave for its queues cannot be read";
  }
}

// Restores the thread's timer slack however the loop ends.
class TimerSlack {
 public:
  explicit TimerSlack(unsigned long ns) : old_(::prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)) {
    ::prctl(PR_SET_TIMERSLACK, ns, 0, 0, 0);
  }
  ~TimerSlack() {
    if (old_ > 0) ::prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(old_), 0, 0, 0);
  }

 private:
  long old_;
};

// SCHED_FIFO for the loop thread (--rt-priority), restored however the loop
// ends: on a busy host a doorbell's wake-up then preempts whatever runs on
// the CPU instead of waiting for CFS to let the loop in.
class RealtimePriority {
 public:
  explicit RealtimePriority(int prio) {
    if (prio <= 0) return;
    ::pthread_getschedparam(::pthread_self(), &old_policy_, &old_);
    sched_param sp{};
    sp.sched_priority = prio;
    error_ = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &sp);
    set_ = error_ == 0;
  }
  ~RealtimePriority() {
    if (set_) ::pthread_setschedparam(::pthread_self(), old_policy_, &old_);
  }
  int error() const { return error_; }

 private:
  int old_policy_ = SCHED_OTHER;
  sched_param old_{};
  int error_ = 0;
  bool set_ = false;
};

// What each entry of the loop's poll set is, beside online pids (pidfds).
constexpr pid_t kDoorbellFd = -1, kSourceFd = 0, kHomeFd = -2;  // kHomeFd: home_wake_fds()

class AutoLoop {
 public:
  // home: the tracer thread this loop runs on, or null (the caller's thread).
  AutoLoop(PreemptController& ctl, EventSource& src, const AutoOptions& o, std::FILE* out, PtraceTracer* home)
      : ctl_(ctl), src_(src), o_(o), out_(out), home_(home), t0_(monotonic_ns()),
        det_(DetectorConfig{static_cast<std::uint64_t>(o.idle_ms) * 1'000'000,
                            static_cast<std::uint64_t>(o.min_hold_ms) * 1'000'000, 3},
             t0_),
        pacer_(PacerConfig{static_cast<std::uint64_t>(o.poll_us) * 1'000, 20'000'000, o.cpu_budget_pct / 100.0,
                           20'000'000},
               t0_, thread_cpu_ns()) {}

  ~AutoLoop() {
    for (auto& [pid, fd] : pidfds_)
      if (fd >= 0) ::close(fd);
  }

  void start() {
    for (pid_t pid : o_.online) {
      det_.add_process(pid);
      int fd = pidfd_open(pid);
      if (fd < 0 && errno == ESRCH) {
        log(fmt::format("online pid {} is already gone", pid));
        det_.process_exited(pid, monotonic_ns());
        continue;
      }
      pidfds_[pid] = fd;  // -1 (no pidfd_open): exits are noticed by ESRCH from the reads
      // The same access check process_vm_readv makes: refused now means
      // refused for every queue the process will ever create.
      int mem = ::open(fmt::format("/proc/{}/mem", pid).c_str(), O_RDONLY | O_CLOEXEC);
      if (mem >= 0) {
        ::close(mem);
      } else if (errno == EACCES || errno == EPERM) {
        const int e = errno;
        act(det_.unreadable(pid, 0, e, monotonic_ns()), monotonic_ns());
        log(fmt::format("cannot read pid {}'s memory: {} ({})", pid, errno_name(-e), read_advice(e)));
        return;
      }
      attach_doorbell(pid);
    }
    refresh();
  }

  bool stopping() const { return stop_requested() || (o_.stop && o_.stop->load()); }

  LoopEnd run() {
    std::uint64_t next_refresh = monotonic_ns() + refresh_ns();
    while (!stopping()) {
      if (ctl_.all_gone()) return LoopEnd::TargetsGone;
      if (det_.processes() == 0) return LoopEnd::OnlineExited;
      if (det_.fallen_back()) return LoopEnd::FellBack;

      // Armed before sleeping, not only after the next wake-up: a resume at
      // the end of the previous round would otherwise leave the probe
      // disarmed for a whole safety-net interval. Already armed, nothing can
      // be waiting: a doorbell since the last take sent its record.
      if (doorbell_ && wants_wakeup() && !doorbell_->armed()) take_doorbells(monotonic_ns());
      std::uint64_t now = monotonic_ns();
      std::uint64_t timeout = pacer_.interval_ns();
      if (all_doorbells()) timeout = std::max(timeout, doorbell_poll_ns());
      if (auto d = det_.next_deadline()) timeout = std::min(timeout, d > now ? d - now : 0);
      std::vector<pollfd> fds;
      std::vector<pid_t> fd_pid;
      if (doorbell_) {
        fds.push_back({doorbell_->ready_fd(), POLLIN, 0});
        fd_pid.push_back(kDoorbellFd);
      }
      if (src_.ready_fd() >= 0) {
        fds.push_back({src_.ready_fd(), POLLIN, 0});
        fd_pid.push_back(kSourceFd);
      }
      for (auto& [pid, fd] : pidfds_)
        if (fd >= 0) {
          fds.push_back({fd, POLLIN, 0});
          fd_pid.push_back(pid);
        }
      for (int fd : home_wake_fds(home_)) {
        fds.push_back({fd, POLLIN, 0});
        fd_pid.push_back(kHomeFd);
      }
      timespec ts{static_cast<time_t>(timeout / 1'000'000'000), static_cast<long>(timeout % 1'000'000'000)};
      ::ppoll(fds.data(), fds.size(), &ts, nullptr);
      now = monotonic_ns();

      // Doorbells first: the one path where microseconds count.
      take_doorbells(now);

      bool events = false, home_ready = false;
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (!fds[i].revents || fd_pid[i] == kDoorbellFd) continue;
        if (fd_pid[i] == kHomeFd) {
          home_ready = true;
          continue;
        }
        if (fd_pid[i] == kSourceFd) {
          events = true;
          continue;
        }
        const pid_t pid = fd_pid[i];
        ::close(pidfds_[pid]);
        pidfds_.erase(pid);
        if (doorbell_) doorbell_->detach(pid);
        log(fmt::format("online pid {} exited", pid));
        act(det_.process_exited(pid, now), now);
      }
      // The home target's own work: its leader's ptrace stops, posted closures.
      if (home_ready && home_) home_->serve_round();
      if (events || now >= next_refresh) {
        src_.pump();
        for (const auto& n : ctl_.take_notes()) fmt::print(out_, "      {}\n", n);
        refresh();
        next_refresh = now + refresh_ns();
      }

      arming_.before_reads(det_, monotonic_ns());
      const auto& reads = reader_.read_all();
      now = monotonic_ns();
      for (const auto& r : reads) {
        auto a = r.err ? det_.unreadable(r.pid, r.id, r.err, now) : det_.observe(r.pid, r.id, r.wptr, r.rptr, now);
        if (r.err && r.err != ESRCH && !warned_.count(r.id)) {
          warned_[r.id] = true;
          log(fmt::format("pid {} queue {:#x}: cannot read its dispatch ids: {} ({})", r.pid, r.id,
                          errno_name(-r.err), read_advice(r.err)));
        }
        act(a, now);
        if (det_.fallen_back()) break;
      }
      act(det_.tick(monotonic_ns()), monotonic_ns());
      arming_.after_round(det_.suspended());
      pacer_.update(monotonic_ns(), thread_cpu_ns());
    }
    return LoopEnd::Stopped;
  }

  int finish(LoopEnd end, AutoReport* report) {
    const std::uint64_t now = monotonic_ns();
    if (ctl_.holding()) resume_now("stopping");
    const bool fell_back = det_.fallen_back();
    const auto& st = det_.stats();
    const std::uint64_t wall = now - t0_;
    const std::uint64_t suspended = det_.suspended_ns_at(now);
    fmt::print(out_, "--- preempt --online-pid: {} after {:.1f} s; {} preemption(s), {} resume(s){} ---\n",
               describe(end), static_cast<double>(wall) / 1e9, st.suspends, st.resumes,
               failed_ ? fmt::format(", {} failed", failed_) : "");
    fmt::print(out_, "suspended {:.3f} s: offline duty cycle {}\n", static_cast<double>(suspended) / 1e9,
               wall ? pct(1.0 - static_cast<double>(suspended) / static_cast<double>(wall)) : "n/a");
    const auto& db = st.detection_doorbell;
    std::uint64_t rung = 0, other = 0, stale = 0;
    for (const auto& [pid, c] : doorbell_counts_) {
      rung += c.doorbells;
      other += c.other;
      stale += c.stale;
    }
    if (doorbell_)
      fmt::print(out_, "doorbells: {} rung ({} other signal stores ignored), {} wake-up(s), {} suspension(s) decided by one{}\n",
                 rung, other, doorbell_wakeups_, st.doorbell_suspends,
                 db.empty() ? std::string()
                            : fmt::format("; detection latency (exact: the store -> the decision): p50 {:.1f} / "
                                          "p99 {:.1f} / p99.9 {:.1f} / max {:.1f} us (n={})",
                                          db.percentile_us(50), db.percentile_us(99), db.percentile_us(99.9),
                                          db.summary().max_us, db.count()));
    arming_.print(out_, rung + other + stale, stale);
    const auto& d = st.detection_bound;
    if (d.empty())
      fmt::print(out_, "detection latency by polling: no samples\n");
    else
      fmt::print(out_,
                 "detection latency by polling (upper bound: since the previous sample): p50 {:.1f} / p99 {:.1f} / "
                 "p99.9 {:.1f} / max {:.1f} us (n={})\n",
                 d.percentile_us(50), d.percentile_us(99), d.percentile_us(99.9), d.summary().max_us, d.count());
    fmt::print(out_, "suspend ioctl: {}\n", format_summary(suspend_ioctl_.summary()));
    fmt::print(out_, "resume ioctl:  {}\n", format_summary(resume_ioctl_.summary()));
    fmt::print(out_,
               "polling: {} samples of {} queue(s), interval {:.0f}-{:.0f} us (last {:.0f} us), CPU {} of one "
               "core (budget {:.2f}%), {} failed read(s)\n",
               st.samples, det_.queues(), static_cast<double>(pacer_.min_seen_ns()) / 1e3,
               static_cast<double>(pacer_.max_seen_ns()) / 1e3, static_cast<double>(pacer_.interval_ns()) / 1e3,
               pct(pacer_.cpu_fraction()), o_.cpu_budget_pct, st.read_failures);
    std::fflush(out_);
    if (report) {
      report->detector = st;
      report->wall_ns = wall;
      report->suspended_ns = suspended;
      report->cpu_fraction = pacer_.cpu_fraction();
      report->polls = pacer_.iterations();
      report->interval_ns = pacer_.interval_ns();
      report->interval_min_ns = pacer_.min_seen_ns();
      report->interval_max_ns = pacer_.max_seen_ns();
      report->suspend_ioctl = suspend_ioctl_;
      report->resume_ioctl = resume_ioctl_;
      report->suspend_at_ns = suspend_at_;
      report->resume_at_ns = resume_at_;
      report->fell_back = fell_back;
      report->fallback_errno = det_.reason().error;
      report->procmem_pids = reader_.procmem_pids();
      report->doorbell_wakeups = doorbell_wakeups_;
      report->doorbells_rung = rung;
      report->doorbell_other_stores = other;
      report->doorbell_arming = arming_.report(rung + other + stale, stale);
      report->loop_cpu_moves = follow_.moves();
      report->loop_tid = static_cast<pid_t>(::syscall(SYS_gettid));
      if (doorbell_)
        for (pid_t pid : o_.online)
          if (doorbell_->attached(pid)) report->doorbell_pids.push_back(pid);
    }
    return failed_ ? 1 : 0;
  }

  const OnlineDetector& detector() const { return det_; }

 private:
  std::uint64_t refresh_ns() const { return static_cast<std::uint64_t>(std::max(1, o_.refresh_ms)) * 1'000'000; }
  std::uint64_t doorbell_poll_ns() const {
    return static_cast<std::uint64_t>(std::max(0, o_.doorbell_poll_ms)) * 1'000'000;
  }

  // The offline job runs: the next doorbell must wake the loop.
  bool wants_wakeup() const { return !det_.suspended() && !det_.fallen_back(); }

  bool all_doorbells() const {
    if (!doorbell_ || det_.processes() == 0) return false;
    for (pid_t pid : o_.online)
      if (det_.watching(pid) && !doorbell_->attached(pid)) return false;
    return true;
  }

  // Logs the outcome once per distinct answer: the library may be loaded
  // later than the controller starts, so a refusal is retried on queue changes.
  void attach_doorbell(pid_t pid) {
    if (!doorbell_ || doorbell_->attached(pid) || !det_.watching(pid)) return;
    std::string line = doorbell_->attach_summary(pid, doorbell_->attach(pid));
    if (doorbell_said_[pid] != line) log(line);
    doorbell_said_[pid] = std::move(line);
  }

  // Wake-up records, then every slot: the record carries the first doorbell
  // after arming, the slots any later one (and one that rang before the
  // arming below, which is why they are read after it).
  void take_doorbells(std::uint64_t now) {
    if (!doorbell_) return;
    for (const auto& o : doorbell_->drain()) {
      ++doorbell_wakeups_;
      act(det_.doorbell(o.pid, o.queue, o.value, o.at_ns, now), now);
      follow_.saw(o.cpu);
    }
    if (wants_wakeup()) doorbell_->arm();
    for (pid_t pid : o_.online) {
      if (doorbell_->attached(pid)) doorbell_counts_[pid] = doorbell_->counts(pid);
      if (auto o = doorbell_->take_new(pid)) {
        now = monotonic_ns();
        act(det_.doorbell(pid, o->queue, o->value, o->at_ns, now), now);
        follow_.saw(o->cpu);
      }
    }
  }

  void log(const std::string& line) {
    fmt::print(out_, "[{:9.3f}s] {}\n", static_cast<double>(monotonic_ns() - t0_) / 1e9, line);
    std::fflush(out_);
  }

  // The online processes' AQL queues in the map, with their pointer addresses.
  void refresh() {
    std::vector<WatchedQueue> watched;
    const auto& map = src_.map();
    for (pid_t pid : o_.online) {
      if (!alive(pid)) continue;
      std::vector<std::uint64_t> ids;
      std::vector<std::uint32_t> qids, blind;
      for (const auto& e : map.queues_of(static_cast<std::uint32_t>(pid))) {
        if (e.info.format != GP_QFMT_AQL) continue;
        if (!e.info.rptr_addr || !e.info.wptr_addr) {
          blind.push_back(e.info.qid);
          continue;
        }
        watched.push_back({pid, e.info.queue_kptr, e.info.qid, e.info.rptr_addr, e.info.wptr_addr});
        ids.push_back(e.info.queue_kptr);
        qids.push_back(e.info.qid);
      }
      det_.set_queues(pid, ids);
      std::sort(qids.begin(), qids.end());
      if (qids != last_qids_[pid]) {
        attach_doorbell(pid);
        log(fmt::format("online pid {}: watching {} AQL queue(s){}{}", pid, qids.size(),
                        qids.empty() ? "" : fmt::format(" (qids {})", fmt::join(qids, ",")),
                        blind.empty() ? ""
                                      : fmt::format("; qid(s) {} have no pointer addresses in the map",
                                                    fmt::join(blind, ","))));
        last_qids_[pid] = qids;
      }
    }
    reader_.set(watched);
  }

  bool alive(pid_t pid) const {
    return det_.watching(pid);
  }

  void resume_now(const std::string& why) {
    arming_.before_resume();
    auto ops = ctl_.resume_all();
    const OpTally t = tally_ops(ops);
    resume_at_.push_back(monotonic_ns());
    if (t.issued) resume_ioctl_.add(t.slowest_ioctl_ns);
    if (!t.ok) ++failed_;
    log(fmt::format("resume ({}): {}{}", why,
                    t.issued ? fmt::format("{:.0f} us, queues {}/{}", static_cast<double>(t.slowest_ioctl_ns) / 1e3, t.done, t.asked)
                           : "no offline queues in the map",
                    t.ok ? "" : " FAILED: " + describe_op_failures(ops)));
  }

  void act(DetectorAction a, std::uint64_t now) {
    switch (a) {
      case DetectorAction::None:
        return;
      case DetectorAction::Suspend: {
        suspend_at_.push_back(now);
        const auto& r = det_.reason();
        auto ops = ctl_.suspend_all(src_.map(), {r.by_doorbell ? SuspendTrigger::Doorbell : SuspendTrigger::Poll,
                                                 r.by_doorbell ? now - r.doorbell_ns : now});
        const OpTally t = tally_ops(ops);
        if (t.issued) suspend_ioctl_.add(t.slowest_ioctl_ns);
        const std::string cause = fmt::format(
            "pid {} queue {:#x} wptr {} rptr {}: {}{}", r.pid, r.queue, r.wptr, r.rptr, r.why,
            r.bound_ns       ? fmt::format(", within {:.0f} us", static_cast<double>(r.bound_ns) / 1e3)
            : r.by_doorbell ? fmt::format(", {:.0f} us after the store", static_cast<double>(r.doorbell_ns) / 1e3)
                             : "");
        if (!t.ok) {
          // Half a suspension is worse than none: undo it, retry at the next demand.
          ++failed_;
          det_.action_failed(a, now);
          log(fmt::format("suspend ({}) FAILED: {}", cause, describe_op_failures(ops)));
          resume_now("suspend failed");
          return;
        }
        det_.suspend_done(monotonic_ns());
        arming_.after_suspend();
        log(fmt::format("suspend ({}): {}", cause,
                        t.issued ? fmt::format("{:.0f} us, queues {}/{}", static_cast<double>(t.slowest_ioctl_ns) / 1e3, t.done, t.asked)
                               : "no offline queues in the map"));
        return;
      }
      case DetectorAction::Resume:
        if (ctl_.holding()) resume_now(det_.reason().why);
        return;
      case DetectorAction::Fallback: {
        const auto& r = det_.reason();
        if (ctl_.holding()) resume_now("falling back");
        log(fmt::format("cannot watch pid {}: {} ({}: {})", r.pid, r.why, errno_name(-r.error),
                        read_advice(r.error)));
        return;
      }
    }
  }

  PreemptController& ctl_;
  EventSource& src_;
  const AutoOptions& o_;
  std::FILE* out_;
  PtraceTracer* home_;
  std::uint64_t t0_;
  OnlineDetector det_;
  PollPacer pacer_;
  PointerReader reader_;
  DoorbellProbe* doorbell_ = o_.doorbell;
  std::map<pid_t, std::string> doorbell_said_;
  std::map<pid_t, DoorbellCounts> doorbell_counts_;  // kept after a process exits
  std::uint64_t doorbell_wakeups_ = 0;
  std::map<pid_t, int> pidfds_;
  std::map<pid_t, std::vector<std::uint32_t>> last_qids_;
  std::map<std::uint64_t, bool> warned_;
  LatencyStats suspend_ioctl_, resume_ioctl_;
  std::vector<std::uint64_t> suspend_at_, resume_at_;
  std::uint64_t failed_ = 0;
  DoorbellArming arming_{doorbell_, o_.doorbell_disarm, reader_, [this](const std::string& l) { log(l); }};
  SubmitCpuFollower follow_{o_.follow_submit_cpu && doorbell_ != nullptr};
};

// The loop, its statistics and why it ended, on whichever thread runs it.
struct LoopResult {
  LoopEnd end = LoopEnd::Stopped;
  int rc = 0;
  DetectorReason reason;
};

LoopResult run_loop(PreemptController& ctl, EventSource& src, const AutoOptions& o, std::FILE* out,
                    AutoReport* report, PtraceTracer* home) {
  TimerSlack slack(1);  // ns: the default 50 us slack would be most of the detection latency
  RealtimePriority rt(o.rt_priority);
  if (rt.error()) {
    fmt::print(out, "note: --rt-priority {}: cannot make the loop SCHED_FIFO ({}); it runs at normal priority\n",
               o.rt_priority, std::strerror(rt.error()));
    std::fflush(out);
  }
  AutoLoop loop(ctl, src, o, out, home);
  loop.start();
  LoopResult r;
  r.end = loop.run();
  r.rc = loop.finish(r.end, report);
  r.reason = loop.detector().reason();
  return r;
}

}  // namespace

int run_auto(PreemptController& ctl, EventSource& src, const AutoOptions& o, std::FILE* out, AutoReport* report) {
  CpuLatencyRequest idle_latency(o.idle_latency_us);
  fmt::print(out,
             "Watching {} online process(es) ({}): suspend on GPU work, resume after {} ms idle (hold >= {} ms); "
             "{}polling every >= {} us within {:.2f}% of one core. Ctrl-C stops (the targets are resumed).\n",
             o.online.size(), fmt::join(o.online, ","), o.idle_ms, o.min_hold_ms,
             o.doorbell ? fmt::format("doorbell uprobes, and as a safety net (every >= {} ms with them) ",
                                      o.doorbell_poll_ms)
                        : "",
             o.poll_us, o.cpu_budget_pct);
  if (idle_latency.active())
    fmt::print(out, "Idle CPUs held to states that wake within {} us (PM QoS request on {}) until the mode ends.\n",
               o.idle_latency_us, kCpuLatencyQosPath);
  else if (idle_latency.error())
    fmt::print(out, "note: --idle-latency-us {}: cannot make the PM QoS request on {} ({}); idle CPUs keep "
               "their deep states\n",
               o.idle_latency_us, kCpuLatencyQosPath, std::strerror(idle_latency.error()));
  std::fflush(out);

  const LoopResult r =
      run_on_home_thread(ctl, [&](PtraceTracer* home) { return run_loop(ctl, src, o, out, report, home); });
  if (r.end != LoopEnd::FellBack) return r.rc;

  if (o.fallback.socket_path.empty()) {
    fmt::print(out,
               "error: automatic mode cannot read pid {}'s queue pointers ({}). The offline job is running. "
               "To let the online service claim the GPU instead, rerun with --socket PATH (automatic mode "
               "then falls back to serving `gpreempt-bpf ctl suspend|resume` there), or use --serve.\n",
               r.reason.pid, errno_name(-r.reason.error));
    std::fflush(out);
    return 1;
  }
  fmt::print(out, "Falling back to control-socket mode on {}.\n", o.fallback.socket_path);
  std::fflush(out);
  return run_serve(ctl, src, o.fallback, out);
}

}  // namespace gp
