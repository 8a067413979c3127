// The automatic mode (run_auto) end to end on this machine, without a GPU:
// real processes, real process_vm_readv, a real ptrace tracer thread on a
// synthetic offline child, and the production loop, detector, poller and
// controller. Only the KFD ioctls go to a fake that timestamps them, and the
// queue map is fed synthetic queue events carrying the synthetic online
// process's real pointer addresses (what the BPF create event would carry).
// Shared by the native test and the benchmark.
#pragma once

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../unit/preempt_fake_kfd.h"
#include "../unit/test_events.h"
#include "online/auto_mode.h"
#include "preempt/controller.h"
#include "synthetic_online.h"

namespace gp::test {

// FakeKfd called from the tracer thread; the test thread reads only these stamps.
class StampKfd : public FakeKfd {
 public:
  int suspend_queues(pid_t pid, std::span<std::uint32_t> q, std::uint32_t g, std::uint64_t m) override {
    const auto t = mono_ns();
    {
      std::lock_guard lk(mu_);
      suspend_ns_.push_back(t);
      tids_.push_back(static_cast<pid_t>(::syscall(SYS_gettid)));
    }
    suspended.store(true);
    return FakeKfd::suspend_queues(pid, q, g, m);
  }
  int resume_queues(pid_t pid, std::span<std::uint32_t> q) override {
    if (on_resume) on_resume();
    const auto t = mono_ns();
    {
      std::lock_guard lk(mu_);
      resume_ns_.push_back(t);
      tids_.push_back(static_cast<pid_t>(::syscall(SYS_gettid)));
    }
    suspended.store(false);
    return FakeKfd::resume_queues(pid, q);
  }
  std::vector<std::uint64_t> suspends() {
    std::lock_guard lk(mu_);
    return suspend_ns_;
  }
  std::vector<std::uint64_t> resumes() {
    std::lock_guard lk(mu_);
    return resume_ns_;
  }
  // The threads that made the suspend and resume calls, in call order.
  std::vector<pid_t> ioctl_tids() {
    std::lock_guard lk(mu_);
    return tids_;
  }
  std::atomic<bool> suspended{false};
  std::function<void()> on_resume;  // set before the loop starts; runs on the loop's thread

 private:
  std::mutex mu_;
  std::vector<std::uint64_t> suspend_ns_, resume_ns_;
  std::vector<pid_t> tids_;
};

// An EventSource whose readiness is an eventfd, like the ring buffer's epoll
// fd: events pushed from the test thread wake the loop, which applies them.
class NativeSource : public EventSource {
 public:
  explicit NativeSource(EventSink* sink) : sink_(sink), efd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~NativeSource() override { ::close(efd_); }
  void push(const Event& ev) {
    {
      std::lock_guard lk(mu_);
      pending_.push_back(ev);
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(efd_, &one, sizeof(one));
  }
  int ready_fd() const override { return efd_; }
  void pump() override {
    std::uint64_t v;
    [[maybe_unused]] auto n = ::read(efd_, &v, sizeof(v));
    std::vector<Event> evs;
    {
      std::lock_guard lk(mu_);
      evs.swap(pending_);
    }
    for (auto& ev : evs) sink_->on_event(ev, map_.apply(ev), map_);
  }
  const QueueMap& map() const override { return map_; }

 private:
  EventSink* sink_;
  int efd_;
  QueueMap map_;
  std::mutex mu_;
  std::vector<Event> pending_;
};

inline Event online_queue_event(EventKind kind, pid_t pid, std::uint32_t qid, std::uint64_t rptr,
                                std::uint64_t wptr) {
  auto ev = queue_event(kind, static_cast<std::uint32_t>(pid), qid, 0xffff888070000000ull + qid * 0x1000ull,
                        0xffff888060000000ull + static_cast<std::uint64_t>(pid), GP_QF_ACTIVE, mono_ns());
  ev.raw.q.rptr_addr = rptr;
  ev.raw.q.wptr_addr = wptr;
  return ev;
}

// An offline child (sleeps), traced for real, with two queues in the fake KFD and the map.
class AutoHarness {
 public:
  AutoHarness() : src(&ctl) {
    offline = ::fork();
    if (offline == 0)
      for (;;) ::pause();
    kfd.proc(offline);
    for (std::uint32_t q = 0; q < 2; ++q) {
      kfd.create_queue(offline, q);
      src.push(queue_event(EventKind::QueueAdd, static_cast<std::uint32_t>(offline), q,
                           0xffff888050000000ull + q * 0x1000ull, 0xffff888040000000ull));
    }
    ctl.add_target(Target::attach(kfd, offline, {}, [] { return false; }));
    out = std::tmpfile();
  }
  ~AutoHarness() {
    stop();
    ctl.detach_all();
    ::kill(offline, SIGKILL);
    int st;
    ::waitpid(offline, &st, 0);
    if (out) std::fclose(out);
  }

  void watch(SyntheticOnline& on, int q) {
    src.push(online_queue_event(EventKind::QueueAdd, on.pid(), static_cast<std::uint32_t>(q), on.rptr_addr(q),
                                on.wptr_addr(q)));
  }

  void start(AutoOptions o) {
    opts = std::move(o);
    opts.stop = &stop_flag;
    loop = std::thread([this] { rc = run_auto(ctl, src, opts, out, &report); });
  }
  void stop() {
    stop_flag = true;
    if (loop.joinable()) loop.join();
  }
  bool running() const { return loop.joinable(); }
  std::string output() {
    std::fflush(out);
    std::string s;
    std::rewind(out);
    char buf[4096];
    while (auto n = std::fread(buf, 1, sizeof(buf), out)) s.append(buf, n);
    return s;
  }

  StampKfd kfd;  // before ctl: the targets hold a reference to it
  PreemptController ctl;
  NativeSource src;
  pid_t offline = -1;
  AutoOptions opts;
  AutoReport report;
  std::atomic<int> rc{-1};  // set by the loop thread when run_auto returns
  std::FILE* out = nullptr;
  std::atomic<bool> stop_flag{false};
  std::thread loop;
};

// For each submission time, the first SUSPEND ioctl entry at or after it.
inline std::vector<std::uint64_t> detection_latencies(const std::vector<std::uint64_t>& submits,
                                                      const std::vector<std::uint64_t>& suspends) {
  std::vector<std::uint64_t> out;
  for (auto s : submits)
    for (auto k : suspends)
      if (k >= s) {
        out.push_back(k - s);
        break;
      }
  return out;
}

// Test and benchmark helpers.
inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = std::chrono::seconds(3)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

inline AutoOptions options(int idle_ms, int hold_ms, int poll_us = 100, double budget = 3.0) {
  AutoOptions o;
  o.idle_ms = idle_ms;
  o.min_hold_ms = hold_ms;
  o.poll_us = poll_us;
  o.cpu_budget_pct = budget;
  return o;
}

inline double pctl_us(std::vector<std::uint64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return static_cast<double>(v[std::min(i, v.size() - 1)]) / 1e3;
}

inline std::vector<std::uint64_t> submit_times(SyntheticOnline& on, std::uint32_t from, std::uint32_t to) {
  std::vector<std::uint64_t> t;
  for (auto i = from; i < to; ++i) t.push_back(on.submit_ns(i));
  return t;
}

}  // namespace gp::test
