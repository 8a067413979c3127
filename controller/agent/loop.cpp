#include "agent/loop.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/stop_signal.h"
#include "online/poller.h"
#include "preempt/protocol.h"
#include "trace/event.h"

namespace gp {

namespace {

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

constexpr std::uint64_t kDoorbellRetryNs = 1'000'000'000;

bool same(const std::vector<WatchedQueue>& a, const std::vector<WatchedQueue>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const WatchedQueue& x, const WatchedQueue& y) {
    return x.pid == y.pid && x.id == y.id && x.rptr_addr == y.rptr_addr && x.wptr_addr == y.wptr_addr;
  });
}

class AgentLoop {
 public:
  AgentLoop(AgentCore& core, EventSource& src, const AgentLoopOptions& o, std::FILE* out)
      : core_(core), src_(src), o_(o), out_(out), t0_(core.started_ns()),
        pacer_(PacerConfig{static_cast<std::uint64_t>(std::max(1, o.poll_us)) * 1'000, 20'000'000,
                           o.cpu_budget_pct / 100.0, 20'000'000},
               monotonic_ns(), thread_cpu_ns()) {}

  ~AgentLoop() {
    for (auto& [pid, fd] : pidfds_)
      if (fd >= 0) ::close(fd);
  }

  int run() {
    // The default 50 us timer slack would be most of a poll's detection latency.
    const long old_slack = ::prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    std::uint64_t next_refresh = 0;
    while (!stopping()) {
      std::uint64_t now = monotonic_ns();
      sync_online(now);
      if (o_.doorbell && core_.wants_doorbell_wakeup() && !o_.doorbell->armed()) take_doorbells(now);

      const bool polling = core_.needs_polling();
      std::uint64_t timeout = polling ? pacer_.interval_ns() : refresh_ns();
      if (polling && all_doorbells()) timeout = std::max(timeout, ms(o_.doorbell_poll_ms));
      timeout = std::min(timeout, next_refresh > now ? next_refresh - now : 0);
      if (auto d = core_.next_deadline()) timeout = std::min(timeout, d > now ? d - now : 0);

      std::vector<pollfd> fds;
      std::vector<pid_t> fd_pid;  // >0: an online pid's pidfd; 0: another fd
      auto add = [&](int fd, pid_t pid) {
        if (fd < 0) return;
        fds.push_back({fd, POLLIN, 0});
        fd_pid.push_back(pid);
      };
      if (o_.doorbell) add(o_.doorbell->ready_fd(), 0);
      const std::size_t src_at = fds.size();
      add(src_.ready_fd(), 0);
      const bool src_polled = fds.size() > src_at;
      for (auto& [pid, fd] : pidfds_) add(fd, pid);
      if (o_.server)
        for (int fd : o_.server->fds()) add(fd, 0);
      add(stop_fd(), 0);
      timespec ts{static_cast<time_t>(timeout / 1'000'000'000), static_cast<long>(timeout % 1'000'000'000)};
      ::ppoll(fds.data(), fds.size(), &ts, nullptr);
      now = monotonic_ns();

      // Doorbells first: the one path where microseconds count.
      take_doorbells(now);

      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (!fds[i].revents || fd_pid[i] <= 0) continue;
        const pid_t pid = fd_pid[i];
        close_online(pid);
        core_.remove_process(pid, "it exited", now);
      }
      const bool events = src_polled && fds[src_at].revents;
      if (events || now >= next_refresh) {
        src_.pump();
        core_.after_pump(monotonic_ns());
        if (now >= next_refresh) {
          core_.reap(now);
          if (core_.wants_rescan() && o_.kfd_pids) core_.rescan(o_.kfd_pids(), now);
          next_refresh = now + refresh_ns();
        }
      }
      const auto watched = core_.watched_queues();
      if (!same(watched, reader_.queues())) reader_.set(watched);
      if (polling || !reader_.queues().empty()) {
        const auto& reads = reader_.read_all();
        now = monotonic_ns();
        for (const auto& r : reads) core_.on_read(r, now);
      }
      // What rang while this round was busy (an attach can take a while)
      // counts before the idle time is judged.
      take_doorbells(monotonic_ns());
      core_.tick(monotonic_ns());
      if (o_.server)
        o_.server->serve([&](std::string_view line) { return core_.handle(parse_request(line), monotonic_ns()); });
      if (polling) pacer_.update(monotonic_ns(), thread_cpu_ns());
      core_.publish(monotonic_ns());
    }
    if (old_slack > 0) ::prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(old_slack), 0, 0, 0);
    return 0;
  }

 private:
  static std::uint64_t ms(int v) { return static_cast<std::uint64_t>(std::max(0, v)) * 1'000'000; }
  std::uint64_t refresh_ns() const {
    return ms(pidfds_.empty() ? std::max(1, o_.idle_refresh_ms) : std::max(1, o_.refresh_ms));
  }
  bool stopping() const { return stop_requested() || (o_.stop && o_.stop->load()); }

  void log(const std::string& line) {
    fmt::print(out_, "[{:9.3f}s] {}\n", static_cast<double>(monotonic_ns() - t0_) / 1e9, line);
    std::fflush(out_);
  }

  bool all_doorbells() const {
    if (!o_.doorbell || pidfds_.empty()) return false;
    for (const auto& [pid, fd] : pidfds_)
      if (!o_.doorbell->attached(pid)) return false;
    return true;
  }

  // The online processes' own resources follow the core's membership: a
  // pidfd (its exit), the memory access check, the doorbell uprobes.
  void sync_online(std::uint64_t now) {
    const auto online = core_.online_pids();
    const std::set<pid_t> want(online.begin(), online.end());
    for (auto it = pidfds_.begin(); it != pidfds_.end();) {
      const pid_t pid = it->first;
      ++it;
      if (!want.count(pid)) close_online(pid);
    }
    for (pid_t pid : online) {
      if (pidfds_.count(pid)) {
        if (o_.doorbell && !o_.doorbell->attached(pid) && now - tried_[pid] >= kDoorbellRetryNs) attach_doorbell(pid, now);
        continue;
      }
      const int fd = pidfd_open(pid);
      if (fd < 0 && errno == ESRCH) {
        core_.remove_process(pid, "it is already gone", now);
        continue;
      }
      pidfds_[pid] = fd;  // -1 (no pidfd_open): exits are noticed by the periodic reap
      // The access check process_vm_readv makes: refused now means refused
      // for every queue the process will ever create.
      const int mem = ::open(fmt::format("/proc/{}/mem", pid).c_str(), O_RDONLY | O_CLOEXEC);
      if (mem >= 0) ::close(mem);
      else if (errno == EACCES || errno == EPERM) core_.on_unreadable(pid, errno, now);
      if (o_.doorbell) attach_doorbell(pid, now);
    }
  }

  void close_online(pid_t pid) {
    auto it = pidfds_.find(pid);
    if (it == pidfds_.end()) return;
    if (it->second >= 0) ::close(it->second);
    pidfds_.erase(it);
    if (o_.doorbell) o_.doorbell->detach(pid);
    tried_.erase(pid);
    said_.erase(pid);
  }

  // Logs the outcome once per distinct answer: the runtime may be loaded
  // after the process opened /dev/kfd, so a refusal is retried.
  void attach_doorbell(pid_t pid, std::uint64_t now) {
    tried_[pid] = now;
    std::string line = o_.doorbell->attach_summary(pid, o_.doorbell->attach(pid));
    if (said_[pid] != line) log(line);
    said_[pid] = std::move(line);
  }

  // Wake-up records, then every slot (see online/auto_mode.cpp: the slots
  // carry what rang before the probe was re-armed).
  void take_doorbells(std::uint64_t now) {
    if (!o_.doorbell) return;
    for (const auto& ob : o_.doorbell->drain()) core_.on_doorbell(ob.pid, ob.queue, ob.value, ob.at_ns, now);
    if (core_.wants_doorbell_wakeup()) o_.doorbell->arm();
    for (const auto& [pid, fd] : pidfds_) {
      if (auto ob = o_.doorbell->take_new(pid)) {
        now = monotonic_ns();
        core_.on_doorbell(pid, ob->queue, ob->value, ob->at_ns, now);
      }
    }
  }

  AgentCore& core_;
  EventSource& src_;
  const AgentLoopOptions& o_;
  std::FILE* out_;
  std::uint64_t t0_;
  PollPacer pacer_;
  PointerReader reader_;
  std::map<pid_t, int> pidfds_;
  std::map<pid_t, std::uint64_t> tried_;
  std::map<pid_t, std::string> said_;
};

}  // namespace

int run_agent_loop(AgentCore& core, EventSource& src, const AgentLoopOptions& opts, std::FILE* out) {
  AgentLoop loop(core, src, opts, out);
  return loop.run();
}

}  // namespace gp
