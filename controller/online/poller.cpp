#include "online/poller.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

#include <fmt/format.h>

namespace gp {

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

PointerReader::~PointerReader() {
  for (auto& [pid, p] : procs_)
    if (p.mem_fd >= 0) ::close(p.mem_fd);
}

void PointerReader::set(const std::vector<WatchedQueue>& queues) {
  for (auto& [pid, p] : procs_)
    if (p.mem_fd >= 0) ::close(p.mem_fd);
  procs_.clear();
  queues_ = queues;
  std::stable_sort(queues_.begin(), queues_.end(), [](auto& a, auto& b) { return a.pid < b.pid; });
  for (std::size_t i = 0; i < queues_.size(); ++i) {
    auto [it, fresh] = procs_.try_emplace(queues_[i].pid);
    if (fresh) {
      it->second.first = i;
      it->second.procmem = procmem_[queues_[i].pid];
    }
    ++it->second.count;
  }
  reads_.assign(queues_.size(), {});
  for (std::size_t i = 0; i < queues_.size(); ++i) reads_[i] = {queues_[i].pid, queues_[i].id, 0, 0, 0};
}

std::vector<pid_t> PointerReader::procmem_pids() const {
  std::vector<pid_t> out;
  for (auto& [pid, on] : procmem_)
    if (on) out.push_back(pid);
  return out;
}

const std::vector<PointerRead>& PointerReader::read_all() {
  for (auto& [pid, p] : procs_) read_proc(pid, p);
  return reads_;
}

int PointerReader::read_one(pid_t pid, Proc& p, const WatchedQueue& q, PointerRead* out) {
  std::uint64_t v[2];
  if (!p.procmem) {
    iovec local{v, sizeof(v)};
    iovec remote[2] = {{reinterpret_cast<void*>(q.rptr_addr), 8}, {reinterpret_cast<void*>(q.wptr_addr), 8}};
    ++syscalls_;
    ssize_t n = ::process_vm_readv(pid, &local, 1, remote, 2, 0);
    if (n == static_cast<ssize_t>(sizeof(v))) {
      out->rptr = v[0];
      out->wptr = v[1];
      return 0;
    }
    int e = n < 0 ? errno : EFAULT;
    if (e != EFAULT) return e;
  }
  // EFAULT: unmapped (a queue being destroyed), or mapped in a way pages
  // cannot be pinned. /proc/PID/mem tells the two apart.
  if (p.mem_fd < 0) {
    p.mem_fd = ::open(fmt::format("/proc/{}/mem", pid).c_str(), O_RDONLY | O_CLOEXEC);
    if (p.mem_fd < 0) return errno == ENOENT ? ESRCH : errno;
  }
  syscalls_ += 2;
  if (::pread(p.mem_fd, &v[0], 8, static_cast<off_t>(q.rptr_addr)) != 8 ||
      ::pread(p.mem_fd, &v[1], 8, static_cast<off_t>(q.wptr_addr)) != 8)
    return EFAULT;
  if (!p.procmem) p.procmem = procmem_[pid] = true;  // the second kind: read this way from now on
  out->rptr = v[0];
  out->wptr = v[1];
  return 0;
}

void PointerReader::read_proc(pid_t pid, Proc& p) {
  // The read id first: it never passes the write id, so a pair read in this
  // order never shows more fetched than written.
  constexpr std::size_t kBatch = 64;  // queues per system call (128 iovecs, well under IOV_MAX)
  std::size_t done = 0;
  while (!p.procmem && done < p.count) {
    const std::size_t n = std::min(kBatch, p.count - done);
    std::uint64_t vals[2 * kBatch];
    iovec remote[2 * kBatch];
    for (std::size_t i = 0; i < n; ++i) {
      const auto& q = queues_[p.first + done + i];
      remote[2 * i] = {reinterpret_cast<void*>(q.rptr_addr), 8};
      remote[2 * i + 1] = {reinterpret_cast<void*>(q.wptr_addr), 8};
    }
    iovec local{vals, n * 16};
    ++syscalls_;
    ssize_t got = ::process_vm_readv(pid, &local, 1, remote, 2 * n, 0);
    const int e = got < 0 ? errno : 0;
    const std::size_t whole = got < 0 ? 0 : static_cast<std::size_t>(got) / 16;
    for (std::size_t i = 0; i < whole; ++i) {
      auto& r = reads_[p.first + done + i];
      r.err = 0;
      r.rptr = vals[2 * i];
      r.wptr = vals[2 * i + 1];
    }
    if (whole == n) {
      done += n;
      continue;
    }
    if (got < 0 && e != EFAULT) {
      // The process, not one address: same answer for all its queues.
      for (std::size_t i = done; i < p.count; ++i) reads_[p.first + i].err = e;
      return;
    }
    // One address failed: that queue alone, then go on after it.
    auto& r = reads_[p.first + done + whole];
    r.err = read_one(pid, p, queues_[p.first + done + whole], &r);
    done += whole + 1;
  }
  for (; done < p.count; ++done) {
    auto& r = reads_[p.first + done];
    r.err = read_one(pid, p, queues_[p.first + done], &r);
  }
}

PollPacer::PollPacer(PacerConfig cfg, std::uint64_t wall_ns, std::uint64_t cpu_ns)
    : cfg_(cfg),
      // Start slow and speed up: the first windows' cost is not known yet.
      interval_(std::clamp<std::uint64_t>(1'000'000, cfg.min_interval_ns, std::max(cfg.max_interval_ns, cfg.min_interval_ns))),
      wall_start_(wall_ns), cpu_start_(cpu_ns), wall_last_(wall_ns), cpu_last_(cpu_ns),
      win_wall_(wall_ns), win_cpu_(cpu_ns),
      min_seen_(interval_), max_seen_(interval_) {
  cfg_.max_interval_ns = std::max(cfg_.max_interval_ns, cfg_.min_interval_ns);
}

void PollPacer::update(std::uint64_t wall_ns, std::uint64_t cpu_ns) {
  ++iterations_;
  wall_last_ = wall_ns;
  cpu_last_ = cpu_ns;
  const std::uint64_t dw = wall_ns - win_wall_;
  if (dw < cfg_.window_ns) return;
  const double used = static_cast<double>(cpu_ns - win_cpu_) / static_cast<double>(dw);
  const double target = 0.7 * cfg_.budget;
  // CPU per second is roughly proportional to 1 / period: scale the interval
  // by used / target. Over the budget at once (up to 4x per window); under it
  // cautiously (square root, at most 2x faster per window), so one quiet
  // window does not swing the next one over the budget.
  const double ratio = target > 0 ? used / target : 4.0;
  const double factor = ratio >= 1 ? std::min(ratio, 4.0) : std::max(std::sqrt(ratio), 0.5);
  double next = static_cast<double>(interval_) * factor;
  next = std::clamp(next, static_cast<double>(cfg_.min_interval_ns), static_cast<double>(cfg_.max_interval_ns));
  interval_ = static_cast<std::uint64_t>(next);
  min_seen_ = std::min(min_seen_, interval_);
  max_seen_ = std::max(max_seen_, interval_);
  win_wall_ = wall_ns;
  win_cpu_ = cpu_ns;
}

double PollPacer::cpu_fraction() const {
  const auto w = wall_ns();
  return w ? static_cast<double>(cpu_ns()) / static_cast<double>(w) : 0.0;
}

}  // namespace gp
