// Controller overhead on the preempt path, natively: from the decision (the
// main thread calls suspend_all / resume_all, or the map sees a new queue while
// suspended) to the entry of the SUSPEND/RESUME ioctl on the target's tracer
// thread. Everything is the production code (a real PtraceTracer seizing a
// real child, Target, DebugSession, PreemptController, QueueMap) except the
// ioctl itself, which a stub KfdClient timestamps and answers at once.
//
//   preempt_overhead [iterations=20000] [queues=10]
//
// Not a test: it asserts nothing about the numbers, it reports them.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "../unit/preempt_fake_kfd.h"
#include "../unit/test_events.h"
#include "base/clock.h"
#include "base/sample_stats.h"
#include "preempt/controller.h"

namespace {

class StampKfd : public gp::test::FakeKfd {
 public:
  std::atomic<std::uint64_t> entry_ns{0};
  int suspend_queues(pid_t pid, std::span<std::uint32_t> q, std::uint32_t g, std::uint64_t m) override {
    entry_ns = gp::monotonic_ns();
    return FakeKfd::suspend_queues(pid, q, g, m);
  }
  int resume_queues(pid_t pid, std::span<std::uint32_t> q) override {
    entry_ns = gp::monotonic_ns();
    return FakeKfd::resume_queues(pid, q);
  }
};

void report(const char* what, const gp::LatencyStats& s) {
  auto x = s.summary();
  fmt::print("{:<44} p50 {:6.1f} us  p99 {:6.1f} us  mean {:6.1f} us  max {:7.1f} us  (n={})\n", what,
             x.median_us, x.p99_us, x.mean_us, x.max_us, x.count);
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 20000;
  int queues = argc > 2 ? std::atoi(argv[2]) : 10;

  pid_t child = fork();
  if (child == 0) {
    for (;;) pause();
  }
  StampKfd kfd;
  kfd.proc(child);
  for (int q = 0; q < queues; ++q) kfd.create_queue(child, static_cast<std::uint32_t>(q));

  gp::PreemptController ctl;
  gp::QueueMap map;
  for (int q = 0; q < queues; ++q)
    map.apply(gp::test::queue_event(gp::EventKind::QueueAdd, static_cast<std::uint32_t>(child),
                                    static_cast<std::uint32_t>(q), 0x1000 + q, 0x9000));
  ctl.add_target(gp::Target::attach(kfd, child, {}, [] { return false; }));
  ctl.suspend_all(map);  // first suspend: the snapshot that clears EC_QUEUE_NEW
  ctl.resume_all();

  gp::LatencyStats to_suspend, to_resume, suspend_round, to_new_queue;
  for (int i = 0; i < iterations; ++i) {
    std::uint64_t t0 = gp::monotonic_ns();
    ctl.suspend_all(map);
    std::uint64_t t1 = gp::monotonic_ns();
    to_suspend.add(kfd.entry_ns.load() - t0);
    suspend_round.add(t1 - t0);

    // A queue created while suspended: from the map applying its event to its
    // SUSPEND (snapshot first, as the kernel requires for a new queue).
    std::uint32_t qid = static_cast<std::uint32_t>(queues + (i % 64));
    kfd.create_queue(child, qid);
    auto ev = gp::test::queue_event(gp::EventKind::QueueAdd, static_cast<std::uint32_t>(child), qid,
                                    0x100000 + static_cast<std::uint64_t>(i), 0x9000, GP_QF_ACTIVE,
                                    gp::monotonic_ns());
    kfd.entry_ns = 0;
    std::uint64_t t2 = gp::monotonic_ns();
    ctl.on_event(ev, map.apply(ev), map);
    while (kfd.entry_ns.load() == 0) std::this_thread::yield();  // leave the CPU to the tracer
    to_new_queue.add(kfd.entry_ns.load() - t2);
    ctl.take_notes();

    std::uint64_t t3 = gp::monotonic_ns();
    ctl.resume_all();
    to_resume.add(kfd.entry_ns.load() - t3);

    // Drop the extra queue again so the map stays at `queues`.
    auto rm = gp::test::queue_event(gp::EventKind::QueueRemove, static_cast<std::uint32_t>(child), qid,
                                    0x100000 + static_cast<std::uint64_t>(i), 0x9000);
    ctl.on_event(rm, map.apply(rm), map);
    kfd.procs[child].queues.erase(qid);
  }
  ctl.detach_all();

  fmt::print("preempt controller overhead, {} iterations, {} queues, 1 target (ioctl stubbed)\n",
             iterations, queues);
  report("decision -> SUSPEND ioctl entry", to_suspend);
  report("decision -> RESUME ioctl entry", to_resume);
  report("new-queue event -> its SUSPEND ioctl entry", to_new_queue);
  report("suspend_all round trip (stub ioctl)", suspend_round);

  kill(child, SIGKILL);
  int st;
  waitpid(child, &st, 0);
  return 0;
}
