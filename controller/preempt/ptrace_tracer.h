// One dedicated tracer thread per offline target.
//
// The thread PTRACE_SEIZEs the target's thread-group leader (KFD checks
// ptrace_parent(lead_thread) == current for every DBG_TRAP op) and then runs
// two kinds of work in one poll loop:
//   - closures posted through the Executor interface (the DBG_TRAP ioctls);
//   - every ptrace stop of the leader, serviced so the target behaves as if
//     nobody were attached: signals are re-injected with PTRACE_CONT, group
//     stops are kept with PTRACE_LISTEN until SIGCONT, exec is reported.
// Only the leader is traced (no TRACECLONE/TRACEFORK): other threads and the
// target's children never stop for us.
//
// A helper "waiter" thread blocks in waitpid() for the leader and forwards each
// status to the tracer thread (the tracer cannot both block in waitpid and wait
// for work). Nothing is ever killed: detach() leaves the target running (or
// group-stopped, if it was), with any signal it was about to receive delivered.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/executor.h"

namespace gp {

struct TracerCounters {
  std::uint64_t signals_forwarded = 0;  // signal-delivery-stops re-injected
  std::uint64_t group_stops = 0;        // group stops kept with PTRACE_LISTEN
  std::uint64_t execs = 0;              // PTRACE_EVENT_EXEC of the leader
};

// Called on the tracer thread.
class TracerObserver {
 public:
  virtual ~TracerObserver() = default;
  // The leader exited (status as from waitpid), or the trace was lost (exec
  // from another thread replaced the leader): status = -1.
  virtual void on_target_gone(int status) = 0;
  // The leader exec'd: the old image's KFD process is gone with its mm.
  virtual void on_target_exec() = 0;
};

class PtraceTracer final : public Executor {
 public:
  // Starts the thread and seizes pid (a thread-group leader) from it. On
  // failure returns nullptr and sets *err to -errno of PTRACE_SEIZE (EPERM:
  // already traced or not permitted; ESRCH: no such process).
  static std::unique_ptr<PtraceTracer> attach(pid_t pid, int* err);
  ~PtraceTracer() override;  // detach(), then stops both threads
  PtraceTracer(const PtraceTracer&) = delete;
  PtraceTracer& operator=(const PtraceTracer&) = delete;

  bool post(std::function<void()> fn) override;
  bool here() const override;
  void run_queued() override;

  // For a loop posted to the tracer thread that keeps it (preempt's automatic
  // mode): its poll must include poll_fds(), and when one of them is ready it
  // calls serve_round() so the leader is still restarted from its stops,
  // posted work still runs and watched fds are still served. Tracer thread only.
  std::vector<int> poll_fds() const;
  void serve_round();

  // Runs on_readable on the tracer thread whenever fd is readable (level
  // triggered; the callback must drain it). Thread-safe. fd must outlive the
  // tracer or be unwatched first.
  void watch_fd(int fd, std::function<void()> on_readable);
  void unwatch_fd(int fd);

  // Observer callbacks run on the tracer thread; set before anything can happen.
  void set_observer(TracerObserver* obs);

  // Leaves the target untraced and running. Idempotent; safe from any thread
  // (runs on the tracer thread). Returns false if the target was already gone.
  bool detach();

  pid_t pid() const { return pid_; }
  bool attached() const { return attached_.load(); }
  bool on_tracer_thread() const;
  TracerCounters counters() const;

 private:
  struct Impl;
  explicit PtraceTracer(pid_t pid);
  pid_t pid_;
  std::atomic<bool> attached_{false};
  std::unique_ptr<Impl> impl_;
};

// Tests only: the waiter thread sleeps this long after reporting each status
// before it waits again, which lets the tracer thread detach first (a race a
// slow or oversubscribed machine otherwise loses only now and then).
void ptrace_waiter_delay_for_testing(std::chrono::microseconds delay);

}  // namespace gp
