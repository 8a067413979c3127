#include "preempt/target.h"

#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/proc.h"
#include "trace/event.h"

namespace gp {

namespace {

constexpr auto kRuntimePollInterval = std::chrono::milliseconds(20);

std::string seize_refusal(pid_t tgid, int err) {
  if (err == -ESRCH) return fmt::format("process {} exited before it could be attached", tgid);
  if (err == -EPERM) {
    if (pid_t t = tracer_of(tgid); t > 0)
      return fmt::format("process {} is already traced by {} (gdb, strace, rocgdb?). Detach it, "
                         "then retry.",
                         tgid, t);
    return fmt::format("ptrace refused to attach to process {} (EPERM): run as root with "
                       "CAP_SYS_PTRACE, and check kernel.yama.ptrace_scope (3 forbids attaching)",
                       tgid);
  }
  return fmt::format("cannot ptrace-attach to process {}: {}", tgid, std::strerror(-err));
}

std::string never_enabled(pid_t tgid) {
  return fmt::format(
      "process {} has not enabled the ROCm debug runtime (runtime_state disabled), so KFD will "
      "not suspend its queues. Either its HSA runtime is not initialised yet (pass --wait-runtime "
      "SECONDS to wait for its hsa_init), or it never will be: ROCr skips this when a GPU's "
      "firmware has no debug support or the ROCm user space predates 6.0.",
      tgid);
}

std::string outcome_word(const QueueOpReport& r) {
  if (r.ret < 0) return errno_name(r.ret);
  if (r.count(QueueOutcome::Error)) return "hardware error";
  if (r.count(QueueOutcome::Invalid)) return "refused by KFD (invalid)";
  return "ok";
}

}  // namespace

Target::Target(Executor& exec, std::unique_ptr<PtraceTracer> tracer, KfdClient& kfd, pid_t tgid,
               const TargetOptions& opts)
    : exec_(exec), tgid_(tgid), opts_(opts), session_(kfd, tgid, opts.session),
      tracer_(std::move(tracer)) {}

std::unique_ptr<Target> Target::attach(KfdClient& kfd, pid_t tgid, const TargetOptions& opts,
                                       const std::function<bool()>& interrupted) {
  int err = 0;
  auto tracer = PtraceTracer::attach(tgid, &err);
  if (!tracer) throw UserError(seize_refusal(tgid, err));
  Executor& exec = *tracer;
  std::unique_ptr<Target> t(new Target(exec, std::move(tracer), kfd, tgid, opts));
  t->tracer_->set_observer(t.get());
  t->enable_and_wait(interrupted);  // on a throw, ~Target undoes everything
  return t;
}

std::unique_ptr<Target> Target::attach_on(Executor& exec, KfdClient& kfd, pid_t tgid,
                                          const TargetOptions& opts,
                                          const std::function<bool()>& interrupted) {
  std::unique_ptr<Target> t(new Target(exec, nullptr, kfd, tgid, opts));
  t->enable_and_wait(interrupted);
  return t;
}

Target::~Target() {
  detach();
  try {
    if (tracer_) tracer_->set_observer(nullptr);
  } catch (const ExecutorStopped&) {
  }
}

void Target::enable_and_wait(const std::function<bool()>& interrupted) {
  exec_.call([this] { session_.enable(); });
  if (tracer_) {
    tracer_->watch_fd(session_.event_fd(), [this] {
      int answered = session_.on_event_fd();
      if (answered > 0)
        note(fmt::format("pid {}: answered the runtime handshake ({}): runtime is now {}", tgid_,
                         session_.runtime_ready() ? "hsa_init" : "hsa_shut_down",
                         runtime_state_name(session_.runtime_state())));
    });
  }
  if (!opts_.require_runtime || exec_.call([this] { return session_.runtime_ready(); })) return;

  auto state = [this] {
    session_.on_event_fd();  // harmless if the tracer thread already answered
    return session_.runtime_state();
  };
  if (opts_.wait_runtime_s <= 0) throw UserError(never_enabled(tgid_));
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<long>(opts_.wait_runtime_s * 1000));
  for (;;) {
    std::uint32_t s = exec_.call(state);
    if (s == GP_KFD_RUNTIME_ENABLED) return;
    if (s == GP_KFD_RUNTIME_ENABLED_BUSY || s == GP_KFD_RUNTIME_ENABLED_ERROR)
      throw UserError(fmt::format(
          "process {} enabled its runtime, but KFD could not activate debugging (runtime_state "
          "{}): another debugged process holds the GPU's debug resources, or see dmesg",
          tgid_, runtime_state_name(s)));
    if (gone_) throw UserError(fmt::format("process {} exited while we waited for its runtime", tgid_));
    if (interrupted && interrupted())
      throw UserError(fmt::format("interrupted while waiting for process {}'s runtime", tgid_), 130);
    if (std::chrono::steady_clock::now() >= deadline)
      throw UserError(fmt::format("waited {} s: {}", opts_.wait_runtime_s, never_enabled(tgid_)));
    std::this_thread::sleep_for(kRuntimePollInterval);
  }
}

QueueOpReport Target::suspend(const std::vector<std::uint32_t>& qids) {
  return suspend_async(qids).get();
}

QueueOpReport Target::resume() { return resume_async().get(); }

int Target::read_queue_snapshot(std::vector<gp_kfd_queue_snapshot_entry>* out) {
  return exec_.call([this, out] { return session_.read_queue_snapshot(out); });
}

std::future<QueueOpReport> Target::suspend_async(std::vector<std::uint32_t> qids) {
  return exec_.submit([this, qids = std::move(qids)] { return session_.suspend(qids); });
}

std::future<QueueOpReport> Target::resume_async(std::vector<std::uint32_t> also) {
  return exec_.submit([this, also = std::move(also)] { return session_.resume(also); });
}

void Target::queue_added(std::uint32_t qid, std::uint64_t added_ns) {
  exec_.post([this, qid, added_ns] {
    auto rep = session_.on_queue_added(qid, added_ns);
    if (!rep) return;
    std::uint64_t now = monotonic_ns();
    double gap_us = now > added_ns ? static_cast<double>(now - added_ns) / 1e3 : 0;
    if (rep->ok())
      note(fmt::format("pid {}: queue {} created while suspended: suspended {:.0f} us after its "
                       "creation",
                       tgid_, qid, gap_us));
    else
      note(fmt::format("pid {}: queue {} created while suspended: could not suspend it ({})", tgid_,
                       qid, outcome_word(*rep)));
  });
}

void Target::destroy_begin(std::uint32_t qid) {
  exec_.post([this, qid] {
    auto rep = session_.on_destroy_begin(qid);
    if (!rep) return;
    note(fmt::format("pid {}: suspended queue {} is being destroyed: resumed it so the destroy "
                     "can finish ({})",
                     tgid_, qid, outcome_word(*rep)));
  });
}

void Target::destroy_failed(std::uint32_t qid) {
  exec_.post([this, qid] {
    auto rep = session_.on_destroy_failed(qid);
    if (!rep) return;
    note(fmt::format("pid {}: the destroy of queue {} failed and the queue lives on: {}", tgid_, qid,
                     rep->ok() ? std::string("suspended it again")
                               : fmt::format("could not suspend it again ({})", outcome_word(*rep))));
  });
}

void Target::secondary_queue(std::uint16_t context_id, std::uint32_t qid) {
  if (!secondary_noted_.insert(context_id).second) return;
  note(fmt::format("pid {}: queue {} of its secondary KFD context {}: KFD's debug API suspends only the "
                   "primary context's queues, so this context's queues keep running",
                   tgid_, qid, context_id));
}

void Target::queue_removed(std::uint32_t qid) {
  exec_.post([this, qid] { session_.on_queue_removed(qid); });
}

void Target::process_gone(const std::string& why) {
  exec_.post([this, why] {
    if (session_.gone()) return;
    session_.on_target_gone();
    gone_ = true;
    note(fmt::format("pid {}: {}; its queues went with it, nothing left to resume", tgid_, why));
  });
}

void Target::on_target_gone(int status) {
  if (session_.gone()) return;
  session_.on_target_gone();
  gone_ = true;
  std::string how = status == -1           ? "is no longer traceable (exec from another thread?)"
                    : WIFEXITED(status)    ? fmt::format("exited with status {}", WEXITSTATUS(status))
                    : WIFSIGNALED(status)  ? fmt::format("was killed by signal {}", WTERMSIG(status))
                                           : "is gone";
  note(fmt::format("pid {} {}; its queues went with it, nothing left to resume", tgid_, how));
}

void Target::on_target_exec() {
  if (session_.gone()) return;
  session_.on_target_gone();
  gone_ = true;
  note(fmt::format("pid {} called exec: its KFD process ended with the old image; no longer "
                   "preempting it",
                   tgid_));
}

TargetCounters Target::counters() {
  TargetCounters c;
  c.session = exec_.call([this] { return session_.counters(); });
  if (tracer_) c.tracer = tracer_->counters();
  return c;
}

void Target::note(std::string line) {
  std::lock_guard lk(notes_mu_);
  notes_.push_back(std::move(line));
}

std::vector<std::string> Target::take_notes() {
  std::lock_guard lk(notes_mu_);
  return std::exchange(notes_, {});
}

void Target::detach() {
  if (detached_) return;
  detached_ = true;
  try {
    exec_.call([this] {
      if (tracer_ && session_.event_fd() >= 0) tracer_->unwatch_fd(session_.event_fd());
      session_.teardown();
    });
  } catch (const ExecutorStopped&) {
    // The tracer thread is gone; its exit already detached ptrace, and the
    // kernel disables debugging when this process exits.
  }
  if (tracer_) tracer_->detach();
}

}  // namespace gp
