// The preemption controller over every offline target: turns "suspend now" /
// "resume now" into per-target SUSPEND/RESUME with the exact map's qids (in
// parallel, one tracer thread per target), and keeps the targets exact while
// suspended by routing the map's events to them (EventSink).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "preempt/observer.h"
#include "preempt/op_tally.h"
#include "preempt/target.h"
#include "tracing/event_sink.h"
#include "tracing/event_source.h"
#include "tracing/queue_map.h"

namespace gp {

// One in-kernel preemption (a GP_EV_PREEMPT of the latency probes) caused by a DBG_TRAP
// suspend/resume of one of our targets.
struct KernelSpan {
  std::uint64_t t0_ns = 0;
  std::uint64_t total_ns = 0;  // from end_ns: exact past the payload's saturating u32 offsets
  pid_t tgid = 0;
  bool resume = false;
};

class PreemptController final : public EventSink {
 public:
  void add_target(std::unique_ptr<Target> t) { targets_.push_back(std::move(t)); }
  const std::vector<std::unique_ptr<Target>>& targets() const { return targets_; }
  // Testing aid (--extra-qid): qids added to every target's suspend as if the
  // map listed them, to drive the real ioctls where no queue can exist (VM).
  void set_extra_qids(std::vector<std::uint32_t> q) { extra_qids_ = std::move(q); }

  // The first live target's tracer thread: the preempt loops run there, so
  // the ioctls they decide need no wake-up of another thread (KFD takes
  // DBG_TRAP only from the ptracer). Null where targets have none (unit tests).
  PtraceTracer* home_thread() const;

  // Both tell the observer, if one is set, what they did (cause: for it only).
  std::vector<TargetOp> suspend_all(const QueueMap& map, const SuspendCause& cause = {});
  std::vector<TargetOp> resume_all();
  void set_observer(PreemptObserver* o) { observer_ = o; }
  bool holding() const { return holding_; }
  bool all_gone() const;

  void on_event(const Event& ev, MapChange change, const QueueMap& map) override;

  // Spans of this target's DBG_TRAP-caused preemptions that started in [from, to].
  std::vector<KernelSpan> spans(pid_t tgid, bool resume, std::uint64_t from, std::uint64_t to) const;
  std::uint64_t spans_seen() const { return spans_seen_; }

  std::vector<std::string> take_notes();  // from every target
  void detach_all();                      // resume, disable, detach: idempotent

 private:
  Target* find(pid_t tgid) const;
  std::vector<TargetOp> each_target(const std::function<std::future<QueueOpReport>(Target&)>& start);

  std::vector<std::unique_ptr<Target>> targets_;
  std::vector<std::uint32_t> extra_qids_;
  bool holding_ = false;
  PreemptObserver* observer_ = nullptr;
  std::deque<KernelSpan> spans_;  // bounded: the loops only look at recent ones
  std::uint64_t spans_seen_ = 0;
};

// What a loop run by run_on_home_thread must add to its poll set: home's own
// fds (its leader's stops, posted work; null home: none) and stop_fd(), since
// the stop signals interrupt only the main thread. When one is ready, the
// loop calls home->serve_round().
std::vector<int> home_wake_fds(PtraceTracer* home);

// Runs loop(home) on ctl.home_thread() and waits for it, or loop(nullptr)
// on this thread where there is none or it is ending (see home_wake_fds).
template <class F>
auto run_on_home_thread(const PreemptController& ctl, F&& loop) -> std::invoke_result_t<F&, PtraceTracer*> {
  using R = std::invoke_result_t<F&, PtraceTracer*>;
  std::future<R> on_home;
  if (PtraceTracer* home = ctl.home_thread()) {
    try {
      on_home = home->submit([&loop, home] { return loop(home); });
    } catch (const ExecutorStopped&) {
      // That thread is ending (its target just left): the loop runs here.
    }
  }
  return on_home.valid() ? on_home.get() : loop(nullptr);
}

}  // namespace gp
