// Where a target's debug-session code runs. The kernel accepts DBG_TRAP ops
// only from the thread that ptrace-attached the target, so every call into a
// target's DebugSession goes through that target's Executor: the PtraceTracer
// thread in production, the calling thread in unit tests (InlineExecutor).
#pragma once

#include <exception>
#include <functional>
#include <future>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace gp {

class ExecutorStopped : public std::runtime_error {
 public:
  ExecutorStopped() : std::runtime_error("the target's tracer thread has stopped") {}
};

class Executor {
 public:
  virtual ~Executor() = default;

  // Queues fn to run on the executor's thread, in submission order. Returns
  // false (and drops fn) once the executor has stopped.
  virtual bool post(std::function<void()> fn) = 0;

  // True when called on the executor's own thread, where a loop may run that
  // keeps it (preempt's automatic mode, to issue its SUSPEND without a thread
  // hop). submit() then runs fn at once, after the work queued before it:
  // waiting for itself would never end.
  virtual bool here() const { return false; }
  // Runs the work queued so far. Called only where here().
  virtual void run_queued() {}

  // Runs fn there; the future carries its result or exception.
  template <class F>
  auto submit(F&& fn) -> std::future<std::invoke_result_t<F>> {
    using R = std::invoke_result_t<F>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(fn));
    auto result = task->get_future();
    if (here()) {
      run_queued();
      (*task)();
      return result;
    }
    if (!post([task] { (*task)(); })) throw ExecutorStopped();
    return result;
  }

  // Runs fn there and waits for it; fn's exception is rethrown here.
  template <class F>
  auto call(F&& fn) -> std::invoke_result_t<F> {
    return submit(std::forward<F>(fn)).get();
  }
};

class InlineExecutor final : public Executor {
 public:
  bool post(std::function<void()> fn) override {
    fn();
    return true;
  }
  bool here() const override { return true; }
};

}  // namespace gp
