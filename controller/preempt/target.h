// One offline target: its tracer thread, its DebugSession, and the attach /
// detach order that leaves nothing half-done. Every DebugSession call runs on
// the tracer thread; the methods here are called from the controller's main
// thread (synchronous ones wait, the event-driven ones are posted).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/executor.h"
#include "kfd/debug_session.h"
#include "preempt/ptrace_tracer.h"

namespace gp {

struct TargetOptions {
  DebugSessionOptions session;
  double wait_runtime_s = 0;  // --wait-runtime: how long to wait for the target's hsa_init
  // false: ENABLE is enough (queues --snapshot-check reads, never suspends;
  // GET_QUEUE_SNAPSHOT works whatever the runtime state).
  bool require_runtime = true;
};

struct TargetCounters {
  SessionCounters session;
  TracerCounters tracer;
};

class Target final : private TracerObserver {
 public:
  // PTRACE_SEIZE, ENABLE, and (runtime not enabled yet) the wait for the
  // target's RUNTIME_ENABLE handshake. Throws UserError with the target
  // untraced and not debug-enabled. interrupted() is polled while waiting.
  static std::unique_ptr<Target> attach(KfdClient& kfd, pid_t tgid, const TargetOptions& opts,
                                        const std::function<bool()>& interrupted);
  // The same on a caller-provided executor, without ptrace (unit tests).
  static std::unique_ptr<Target> attach_on(Executor& exec, KfdClient& kfd, pid_t tgid,
                                           const TargetOptions& opts,
                                           const std::function<bool()>& interrupted);
  ~Target() override;  // detach()

  pid_t tgid() const { return tgid_; }
  bool gone() const { return gone_.load(); }
  // Its tracer thread (null with attach_on()): preempt's automatic mode runs
  // its loop there, so its SUSPEND needs no thread hop.
  PtraceTracer* tracer() const { return tracer_.get(); }
  // Called on the thread that runs this target's ioctls: the *_async calls
  // then run them before returning.
  bool on_own_thread() const { return exec_.here(); }

  QueueOpReport suspend(const std::vector<std::uint32_t>& qids);
  QueueOpReport resume();
  // DebugSession::read_queue_snapshot on the tracer thread.
  int read_queue_snapshot(std::vector<gp_kfd_queue_snapshot_entry>* out);
  // Both, started on the tracer thread without waiting (several targets in parallel).
  std::future<QueueOpReport> suspend_async(std::vector<std::uint32_t> qids);
  std::future<QueueOpReport> resume_async(std::vector<std::uint32_t> also = {});

  // Posted: the main thread never waits for these.
  void queue_added(std::uint32_t qid, std::uint64_t added_ns);
  void destroy_begin(std::uint32_t qid);
  // The destroy ioctl of qid failed and the queue still exists.
  void destroy_failed(std::uint32_t qid);
  void queue_removed(std::uint32_t qid);
  // A queue of one of its secondary KFD contexts appeared (the debug API
  // cannot suspend those): noted once per context.
  void secondary_queue(std::uint16_t context_id, std::uint32_t qid);
  void process_gone(const std::string& why);

  TargetCounters counters();
  // Lines about what happened on the tracer thread on its own (new queues
  // suspended, destroys unblocked, handshakes, exit), for the main thread to print.
  std::vector<std::string> take_notes();

  // RESUME, DISABLE, close the pipe, PTRACE_DETACH. Idempotent.
  void detach();

 private:
  Target(Executor& exec, std::unique_ptr<PtraceTracer> tracer, KfdClient& kfd, pid_t tgid,
         const TargetOptions& opts);
  void enable_and_wait(const std::function<bool()>& interrupted);
  void note(std::string line);
  void on_target_gone(int status) override;
  void on_target_exec() override;

  Executor& exec_;
  pid_t tgid_;
  TargetOptions opts_;
  DebugSession session_;  // tracer thread only
  std::atomic<bool> gone_{false};
  bool detached_ = false;
  std::mutex notes_mu_;
  std::vector<std::string> notes_;
  std::set<std::uint16_t> secondary_noted_;  // main thread only
  // Last: destroyed first, so its thread is joined before session_ goes away.
  std::unique_ptr<PtraceTracer> tracer_;  // null with attach_on()
};

}  // namespace gp
