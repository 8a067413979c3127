#include "preempt/ptrace_tracer.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace gp {

namespace {

// Interrupts the waiter's blocking waitpid() at shutdown (a detached tracee no
// longer wakes it). Real-time, so it never collides with job-control signals;
// the handler does nothing, it only exists so the signal interrupts (no SA_RESTART).
int wake_signal() { return SIGRTMIN + 6; }

void install_wake_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: waitpid must return EINTR
    sigaction(wake_signal(), &sa, nullptr);
  });
}

pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// The controller's stop signals (SIGINT/SIGTERM/SIGHUP) belong to its main
// thread, whose loop must wake at once; our threads never take them.
void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

bool is_stop_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

std::atomic<long> g_waiter_delay_us{0};

constexpr int kLostStatus = -1;  // waitpid said ECHILD: the leader is no longer our tracee

// How long detach() waits for the leader to reach a ptrace-stop after
// PTRACE_INTERRUPT (it only fails to if stuck in uninterruptible sleep). After
// that the tracer thread's exit detaches it (the kernel's exit_ptrace).
constexpr auto kDetachTimeout = std::chrono::seconds(2);

}  // namespace

void ptrace_waiter_delay_for_testing(std::chrono::microseconds delay) { g_waiter_delay_us = delay.count(); }

struct PtraceTracer::Impl {
  pid_t pid;
  std::atomic<bool>& attached;
  int wake_fd = -1;

  std::mutex mu;
  std::deque<std::function<void()>> work;  // guarded by mu
  std::deque<int> statuses;                // guarded by mu
  bool stopping = false;                   // guarded by mu

  // Tracer-thread state.
  std::map<int, std::function<void()>> watches;
  TracerObserver* observer = nullptr;
  bool gone = false;

  std::thread tracer;
  std::thread waiter;
  std::thread::id tracer_id;
  std::atomic<pid_t> waiter_tid{0};
  std::atomic<bool> waiter_stop{false};
  std::atomic<bool> waiter_done{false};
  // Set just before our own PTRACE_DETACH: from then on waitpid's ECHILD (the
  // leader is no longer our tracee) is that detach, not the target leaving.
  std::atomic<bool> detached{false};

  std::atomic<std::uint64_t> signals_forwarded{0}, group_stops{0}, execs{0};

  Impl(pid_t p, std::atomic<bool>& a) : pid(p), attached(a) {
    wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  }
  ~Impl() {
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof(one));
  }

  void drain_wake() {
    std::uint64_t v;
    while (::read(wake_fd, &v, sizeof(v)) > 0) {
    }
  }

  bool post(std::function<void()> fn) {
    {
      std::lock_guard lk(mu);
      if (stopping) return false;
      work.push_back(std::move(fn));
    }
    wake();
    return true;
  }

  void push_status(int st) {
    {
      std::lock_guard lk(mu);
      statuses.push_back(st);
    }
    wake();
  }

  // ---- waiter thread ----
  void run_waiter() {
    waiter_tid = current_tid();
    block_stop_signals();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, wake_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    while (!waiter_stop) {
      int st = 0;
      pid_t r = ::waitpid(pid, &st, __WALL);
      if (r == pid) {
        push_status(st);
        if (WIFEXITED(st) || WIFSIGNALED(st)) break;
        if (long us = g_waiter_delay_us.load()) std::this_thread::sleep_for(std::chrono::microseconds(us));
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (!waiter_stop && !detached) push_status(kLostStatus);
      break;
    }
    waiter_done = true;
  }

  void stop_waiter() {
    waiter_stop = true;
    while (!waiter_done) {
      if (pid_t tid = waiter_tid.load()) ::syscall(SYS_tgkill, ::getpid(), tid, wake_signal());
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (waiter.joinable()) waiter.join();
  }

  // ---- tracer thread ----
  void target_gone(int st) {
    if (gone) return;
    gone = true;
    attached = false;
    if (observer) observer->on_target_gone(st);
  }

  // Restarts the leader from one ptrace-stop the way an untraced process would
  // have continued.
  void service(int st) {
    if (detached) return;
    if (st == kLostStatus || WIFEXITED(st) || WIFSIGNALED(st)) {
      target_gone(st);
      return;
    }
    if (!WIFSTOPPED(st) || !attached) return;
    int sig = WSTOPSIG(st);
    int event = st >> 16;
    long r = 0;
    if (event == PTRACE_EVENT_STOP) {
      if (is_stop_signal(sig)) {
        // Group stop: stay stopped (and let SIGCONT end it) without us.
        ++group_stops;
        r = ::ptrace(PTRACE_LISTEN, pid, nullptr, nullptr);
      } else {
        // PTRACE_INTERRUPT trap, or the re-trap that ends a LISTEN.
        r = ::ptrace(PTRACE_CONT, pid, nullptr, nullptr);
      }
    } else if (event == PTRACE_EVENT_EXEC) {
      ++execs;
      if (observer) observer->on_target_exec();
      r = ::ptrace(PTRACE_CONT, pid, nullptr, nullptr);
    } else if (event != 0) {
      r = ::ptrace(PTRACE_CONT, pid, nullptr, nullptr);
    } else {
      // Signal-delivery-stop: deliver the signal as if nobody were attached.
      ++signals_forwarded;
      r = ::ptrace(PTRACE_CONT, pid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
    }
    // ESRCH: killed meanwhile (SIGKILL needs no servicing); its exit status follows.
    (void)r;
  }

  std::deque<int> take_statuses() {
    std::lock_guard lk(mu);
    return std::exchange(statuses, {});
  }

  // Waits (only for statuses; posted work stays queued) until the leader
  // reports something or the deadline passes. Returns false on timeout.
  bool wait_status(int* st, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      {
        std::lock_guard lk(mu);
        if (!statuses.empty()) {
          *st = statuses.front();
          statuses.pop_front();
          return true;
        }
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{wake_fd, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()) + 1);
      drain_wake();
    }
  }

  bool detach() {
    if (gone || !attached) return !gone;
    // Older statuses first: they may already be the stop we need.
    for (int st : take_statuses()) service(st);
    if (gone) return false;
    if (::ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr) < 0) {
      attached = false;
      return false;
    }
    auto deadline = std::chrono::steady_clock::now() + kDetachTimeout;
    int st = 0;
    while (wait_status(&st, deadline)) {
      if (st == kLostStatus || WIFEXITED(st) || WIFSIGNALED(st)) {
        target_gone(st);
        return false;
      }
      if (!WIFSTOPPED(st)) continue;
      int event = st >> 16;
      // A signal the leader was about to receive is delivered by the detach;
      // a group stop is kept by the kernel (__ptrace_unlink re-arms it).
      long sig = event == 0 ? WSTOPSIG(st) : 0;
      if (event == PTRACE_EVENT_EXEC) {
        ++execs;
        if (observer) observer->on_target_exec();
      }
      if (event == 0) ++signals_forwarded;
      detached = true;
      ::ptrace(PTRACE_DETACH, pid, nullptr, reinterpret_cast<void*>(sig));
      attached = false;
      return true;
    }
    // Stuck in uninterruptible sleep: leave it to the tracer thread's exit.
    return true;
  }

  // A failing closure must not take the tracer thread (and with it the
  // process: std::terminate) down while a target may be suspended.
  static void run_guarded(const std::function<void()>& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      fmt::print(stderr, "gpreempt-bpf: internal error on a tracer thread: {}\n", e.what());
    }
  }

  // Runs the callback of every watched fd that is readable now.
  void serve_watches() {
    if (watches.empty()) return;
    std::vector<pollfd> fds;
    std::vector<int> order;
    for (auto& [fd, cb] : watches) {
      fds.push_back({fd, POLLIN, 0});
      order.push_back(fd);
    }
    if (::poll(fds.data(), fds.size(), 0) <= 0) return;
    for (std::size_t i = 0; i < order.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto it = watches.find(order[i]);
      if (it != watches.end()) run_guarded(it->second);
    }
  }

  // One round of the tracer's work: the leader's stops, the watched fds that
  // are readable, the closures posted so far. The watched fd goes before the
  // closures: it is the runtime handshake, and the target sleeps in the kernel
  // until it is answered, with nothing to release it if we die meanwhile
  // (docs/kfd-internals.md §2); a closure can be a SUSPEND that takes a while.
  bool round() {
    drain_wake();
    for (int st : take_statuses()) service(st);
    serve_watches();
    return run_queued();
  }

  bool run_queued() {
    std::deque<std::function<void()>> batch;
    bool stop;
    {
      std::lock_guard lk(mu);
      batch.swap(work);
      stop = stopping;
    }
    for (auto& fn : batch) run_guarded(fn);
    return stop;
  }

  void loop() {
    std::vector<pollfd> fds;
    for (;;) {
      fds.clear();
      fds.push_back({wake_fd, POLLIN, 0});
      for (auto& [fd, cb] : watches) fds.push_back({fd, POLLIN, 0});
      int n = ::poll(fds.data(), fds.size(), -1);
      if (n < 0 && errno != EINTR) break;
      if (round()) {
        std::lock_guard lk(mu);
        if (work.empty()) break;
      }
    }
  }

  void run(std::promise<int>* seized) {
    tracer_id = std::this_thread::get_id();
    block_stop_signals();
    // Only the leader, and only exec reported: no TRACECLONE/TRACEFORK so
    // threads and children never stop for us; never EXITKILL.
    if (::ptrace(PTRACE_SEIZE, pid, nullptr, reinterpret_cast<void*>(PTRACE_O_TRACEEXEC)) < 0) {
      seized->set_value(-errno);
      return;
    }
    attached = true;
    waiter = std::thread([this] { run_waiter(); });
    seized->set_value(0);
    loop();
    // Leaving the thread detaches whatever is still attached (exit_ptrace).
  }
};

PtraceTracer::PtraceTracer(pid_t pid) : pid_(pid), impl_(std::make_unique<Impl>(pid, attached_)) {}

std::unique_ptr<PtraceTracer> PtraceTracer::attach(pid_t pid, int* err) {
  install_wake_handler();
  std::unique_ptr<PtraceTracer> t(new PtraceTracer(pid));
  std::promise<int> seized;
  auto result = seized.get_future();
  t->impl_->tracer = std::thread([impl = t->impl_.get(), &seized] { impl->run(&seized); });
  int r = result.get();
  if (r < 0) {
    t->impl_->tracer.join();
    t->impl_->stopping = true;
    *err = r;
    return nullptr;
  }
  *err = 0;
  return t;
}

PtraceTracer::~PtraceTracer() {
  if (!impl_->tracer.joinable()) return;
  try {
    detach();
  } catch (const ExecutorStopped&) {
  }
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake();
  impl_->tracer.join();
  impl_->stop_waiter();
}

bool PtraceTracer::post(std::function<void()> fn) { return impl_->post(std::move(fn)); }

bool PtraceTracer::here() const { return on_tracer_thread(); }

void PtraceTracer::run_queued() {
  // Work a loop on this thread runs inline (submit()) comes after a pending
  // handshake too, as in round().
  impl_->serve_watches();
  impl_->run_queued();
}

std::vector<int> PtraceTracer::poll_fds() const {
  if (!on_tracer_thread()) throw std::logic_error("PtraceTracer::poll_fds off the tracer thread");
  std::vector<int> fds{impl_->wake_fd};
  for (const auto& [fd, cb] : impl_->watches) fds.push_back(fd);
  return fds;
}

void PtraceTracer::serve_round() {
  if (!on_tracer_thread()) throw std::logic_error("PtraceTracer::serve_round off the tracer thread");
  impl_->round();
}

void PtraceTracer::watch_fd(int fd, std::function<void()> on_readable) {
  post([impl = impl_.get(), fd, cb = std::move(on_readable)]() mutable {
    impl->watches[fd] = std::move(cb);
  });
}

void PtraceTracer::unwatch_fd(int fd) {
  if (on_tracer_thread()) {
    impl_->watches.erase(fd);
    return;
  }
  try {
    call([impl = impl_.get(), fd] { impl->watches.erase(fd); });
  } catch (const ExecutorStopped&) {
  }
}

void PtraceTracer::set_observer(TracerObserver* obs) {
  if (on_tracer_thread()) {
    impl_->observer = obs;
    return;
  }
  call([impl = impl_.get(), obs] { impl->observer = obs; });
}

bool PtraceTracer::detach() {
  if (on_tracer_thread()) return impl_->detach();
  return call([impl = impl_.get()] { return impl->detach(); });
}

bool PtraceTracer::on_tracer_thread() const {
  return std::this_thread::get_id() == impl_->tracer_id;
}

TracerCounters PtraceTracer::counters() const {
  return {impl_->signals_forwarded.load(), impl_->group_stops.load(), impl_->execs.load()};
}

}  // namespace gp
