// The automatic mode's state machine (controller/online/detector.h) and CPU pacer
// (controller/online/poller.h), driven with numbers: no process, no clock.
#include <gtest/gtest.h>

#include <cerrno>

#include "online/detector.h"
#include "online/poller.h"

namespace gp {
namespace {

constexpr std::uint64_t kUs = 1'000;
constexpr std::uint64_t kMs = 1'000'000;
constexpr pid_t kOnline = 100;
constexpr pid_t kOnline2 = 200;
constexpr std::uint64_t kQ = 0xffff888000001000ull;
constexpr std::uint64_t kQ2 = 0xffff888000002000ull;

using A = DetectorAction;

DetectorConfig config(std::uint64_t idle_ms = 10, std::uint64_t hold_ms = 30) {
  DetectorConfig c;
  c.idle_ns = idle_ms * kMs;
  c.min_hold_ns = hold_ms * kMs;
  return c;
}

// One online process with one queue that has already been sampled idle at t=0.
OnlineDetector watching_one(DetectorConfig c = config()) {
  OnlineDetector d(c);
  d.add_process(kOnline);
  d.add_queue(kOnline, kQ);
  EXPECT_EQ(d.observe(kOnline, kQ, 5, 5, 0), A::None);
  return d;
}

TEST(OnlineDetector, IdleQueueNeverSuspends) {
  auto d = watching_one();
  for (std::uint64_t t = 100 * kUs; t < 500 * kMs; t += 100 * kUs) {
    EXPECT_EQ(d.observe(kOnline, kQ, 5, 5, t), A::None);
    EXPECT_EQ(d.tick(t), A::None);
  }
  EXPECT_FALSE(d.suspended());
  EXPECT_EQ(d.stats().suspends, 0u);
}

TEST(OnlineDetector, PendingPacketSuspendsAtOnce) {
  auto d = watching_one();
  EXPECT_EQ(d.observe(kOnline, kQ, 6, 5, 120 * kUs), A::Suspend);
  EXPECT_TRUE(d.suspended());
  EXPECT_EQ(d.reason().pid, kOnline);
  EXPECT_EQ(d.reason().wptr, 6u);
  EXPECT_EQ(d.reason().bound_ns, 120 * kUs);  // since the previous (idle) sample
  EXPECT_EQ(d.stats().suspends, 1u);
  EXPECT_EQ(d.stats().detection_bound.count(), 1u);
}

TEST(OnlineDetector, SubmittedAndFetchedBetweenSamplesStillCounts) {
  // The CP fetched the packet before we looked: ids equal, but the write id moved.
  auto d = watching_one();
  EXPECT_EQ(d.observe(kOnline, kQ, 9, 9, 100 * kUs), A::Suspend);
}

TEST(OnlineDetector, FirstSampleOfAQueueNeedsPendingWork) {
  OnlineDetector d(config());
  d.add_process(kOnline);
  d.add_queue(kOnline, kQ);
  // Ids that are far from 0 but equal: a queue that has been used, now idle.
  EXPECT_EQ(d.observe(kOnline, kQ, 1000, 1000, 0), A::None);
  d.add_queue(kOnline, kQ2);
  EXPECT_EQ(d.observe(kOnline, kQ2, 3, 1, 50 * kUs), A::Suspend);
  EXPECT_EQ(d.reason().bound_ns, 0u);  // no earlier sample: no bound recorded
  EXPECT_EQ(d.stats().detection_bound.count(), 0u);
}

TEST(OnlineDetector, ResumesAfterIdleTime) {
  auto d = watching_one(config(10, 0));
  ASSERT_EQ(d.observe(kOnline, kQ, 6, 5, 1 * kMs), A::Suspend);
  EXPECT_EQ(d.observe(kOnline, kQ, 6, 6, 2 * kMs), A::None);  // dispatched; kernel may still run
  EXPECT_EQ(d.tick(10 * kMs), A::None);                      // 9 ms since the demand
  EXPECT_EQ(d.next_deadline(), 11 * kMs);
  EXPECT_EQ(d.tick(11 * kMs), A::Resume);
  EXPECT_FALSE(d.suspended());
  EXPECT_EQ(d.stats().resumes, 1u);
  EXPECT_EQ(d.stats().suspended_ns, 10 * kMs);
  EXPECT_EQ(d.next_deadline(), 0u);
}

TEST(OnlineDetector, MinHoldKeepsAShortDemandSuspended) {
  auto d = watching_one(config(5, 40));
  ASSERT_EQ(d.observe(kOnline, kQ, 6, 6, 1 * kMs), A::Suspend);
  EXPECT_EQ(d.tick(10 * kMs), A::None);  // idle long enough, held too short
  EXPECT_EQ(d.tick(40 * kMs), A::None);
  EXPECT_EQ(d.next_deadline(), 41 * kMs);
  EXPECT_EQ(d.tick(41 * kMs), A::Resume);
}

TEST(OnlineDetector, WorkStillWaitingBlocksTheResume) {
  auto d = watching_one(config(5, 0));
  ASSERT_EQ(d.observe(kOnline, kQ, 6, 5, 0), A::Suspend);
  // The same pending packet seen again refreshes the demand ...
  EXPECT_EQ(d.observe(kOnline, kQ, 6, 5, 20 * kMs), A::None);
  EXPECT_EQ(d.tick(24 * kMs), A::None);
  // ... and a packet still waiting at the last sample blocks the resume, however long ago.
  EXPECT_EQ(d.tick(60 * kMs), A::None);
  EXPECT_EQ(d.observe(kOnline, kQ, 6, 6, 61 * kMs), A::None);  // fetched at last
  EXPECT_EQ(d.tick(61 * kMs), A::Resume);
}

// resume_due() says what the next tick would do, without doing it: the loop
// puts the doorbell uprobes back when it turns true, before looking again.
TEST(OnlineDetector, ResumeDueAnswersLikeTheTickWithoutActing) {
  auto d = watching_one(config(10, 30));
  EXPECT_FALSE(d.resume_due(1 * kMs)) << "running: nothing to resume";
  ASSERT_EQ(d.observe(kOnline, kQ, 6, 6, 1 * kMs), A::Suspend);
  for (std::uint64_t t : {10 * kMs, 30 * kMs}) {
    EXPECT_FALSE(d.resume_due(t));
    EXPECT_EQ(d.tick(t), A::None);
  }
  EXPECT_TRUE(d.resume_due(31 * kMs));
  EXPECT_TRUE(d.resume_due(31 * kMs)) << "asking changes nothing";
  EXPECT_TRUE(d.suspended());
  // The second look finds a submission: no longer due, and the tick agrees.
  EXPECT_EQ(d.observe(kOnline, kQ, 7, 6, 31 * kMs), A::None);
  EXPECT_FALSE(d.resume_due(31 * kMs)) << "packets waiting";
  EXPECT_EQ(d.tick(31 * kMs), A::None);
  EXPECT_EQ(d.observe(kOnline, kQ, 7, 7, 32 * kMs), A::None);
  EXPECT_FALSE(d.resume_due(40 * kMs)) << "idle counts from the new demand";
  EXPECT_TRUE(d.resume_due(42 * kMs));
  EXPECT_EQ(d.tick(42 * kMs), A::Resume);
  EXPECT_FALSE(d.resume_due(100 * kMs));
}

TEST(OnlineDetector, BurstsWithGapsUnderIdleDoNotFlap) {
  auto d = watching_one(config(10, 20));
  std::uint64_t w = 5;
  int suspends = 0, resumes = 0;
  std::uint64_t t = 0;
  // 50 bursts of 3 packets, 4 ms apart, sampled every 100 us.
  for (int burst = 0; burst < 50; ++burst) {
    for (std::uint64_t s = 0; s < 40; ++s, t += 100 * kUs) {
      std::uint64_t r = w;
      if (s == 0) w += 3;          // submitted
      if (s >= 2) r = w;           // fetched 200 us later
      auto a = d.observe(kOnline, kQ, w, s >= 2 ? r : w - 3, t);
      suspends += a == A::Suspend;
      resumes += d.tick(t) == A::Resume;
    }
  }
  EXPECT_EQ(suspends, 1);
  EXPECT_EQ(resumes, 0);
  // Then quiet: exactly one resume, 10 ms after the last demand.
  for (std::uint64_t s = 0; s < 200; ++s, t += 100 * kUs) {
    d.observe(kOnline, kQ, w, w, t);
    resumes += d.tick(t) == A::Resume;
  }
  EXPECT_EQ(resumes, 1);
  EXPECT_EQ(d.stats().suspends, 1u);
}

TEST(OnlineDetector, DemandAfterResumeSuspendsAgain) {
  auto d = watching_one(config(1, 0));
  ASSERT_EQ(d.observe(kOnline, kQ, 6, 6, 0), A::Suspend);
  ASSERT_EQ(d.tick(1 * kMs), A::Resume);
  EXPECT_EQ(d.observe(kOnline, kQ, 7, 6, 2 * kMs), A::Suspend);
  EXPECT_EQ(d.stats().suspends, 2u);
}

TEST(OnlineDetector, OnlineExitResumesAtOnceEvenWithinTheHold) {
  auto d = watching_one(config(10, 1000));
  ASSERT_EQ(d.observe(kOnline, kQ, 6, 5, 0), A::Suspend);
  EXPECT_EQ(d.process_exited(kOnline, 1 * kMs), A::Resume);
  EXPECT_EQ(d.processes(), 0u);
  EXPECT_EQ(d.stats().exits, 1u);
  EXPECT_EQ(d.process_exited(kOnline, 2 * kMs), A::None);  // once
}

TEST(OnlineDetector, ExitOfOneOnlineKeepsTheOtherOnesDemand) {
  OnlineDetector d(config(10, 0));
  d.add_process(kOnline);
  d.add_process(kOnline2);
  d.add_queue(kOnline, kQ);
  d.add_queue(kOnline2, kQ2);
  d.observe(kOnline, kQ, 1, 1, 0);
  d.observe(kOnline2, kQ2, 1, 1, 0);
  ASSERT_EQ(d.observe(kOnline, kQ, 2, 1, 1 * kMs), A::Suspend);
  EXPECT_EQ(d.observe(kOnline2, kQ2, 2, 2, 3 * kMs), A::None);  // pid 2 busy too
  EXPECT_EQ(d.process_exited(kOnline, 4 * kMs), A::None);       // pid 2's demand is 1 ms old
  EXPECT_TRUE(d.suspended());
  EXPECT_EQ(d.tick(12 * kMs), A::None);
  EXPECT_EQ(d.tick(13 * kMs), A::Resume);  // 10 ms after pid 2's demand
}

TEST(OnlineDetector, ExitOfTheIdleOneResumesWhenTheOtherHadNoDemand) {
  OnlineDetector d(config(10, 1000));
  d.add_process(kOnline);
  d.add_process(kOnline2);
  d.add_queue(kOnline, kQ);
  d.add_queue(kOnline2, kQ2);
  d.observe(kOnline2, kQ2, 1, 1, 0);
  d.observe(kOnline2, kQ2, 2, 2, 1 * kMs);  // pid 2 submits: suspended
  ASSERT_TRUE(d.suspended());
  d.observe(kOnline2, kQ2, 2, 2, 2 * kMs);
  EXPECT_EQ(d.process_exited(kOnline2, 3 * kMs), A::Resume);  // pid 1 never submitted: nothing to wait for
}

TEST(OnlineDetector, SeveralOnlinePidsEitherOneSuspendsOnlyAllIdleResumes) {
  OnlineDetector d(config(5, 0));
  d.add_process(kOnline);
  d.add_process(kOnline2);
  d.add_queue(kOnline, kQ);
  d.add_queue(kOnline2, kQ2);
  d.observe(kOnline, kQ, 0, 0, 0);
  d.observe(kOnline2, kQ2, 0, 0, 0);
  ASSERT_EQ(d.observe(kOnline2, kQ2, 1, 0, 1 * kMs), A::Suspend);
  EXPECT_EQ(d.reason().pid, kOnline2);
  EXPECT_EQ(d.observe(kOnline, kQ, 4, 4, 4 * kMs), A::None);  // the other one submits later
  EXPECT_EQ(d.observe(kOnline2, kQ2, 1, 1, 4 * kMs), A::None);
  EXPECT_EQ(d.tick(8 * kMs), A::None);
  EXPECT_EQ(d.tick(9 * kMs), A::Resume);
}

TEST(OnlineDetector, QueuesComeAndGoWithTheMap) {
  OnlineDetector d(config());
  d.add_process(kOnline);
  EXPECT_EQ(d.observe(kOnline, kQ, 3, 1, 0), A::None);  // not (yet) a watched queue
  d.set_queues(kOnline, {kQ, kQ2});
  EXPECT_EQ(d.queues(), 2u);
  d.observe(kOnline, kQ, 3, 3, 1 * kMs);
  d.set_queues(kOnline, {kQ});  // kQ2 destroyed: its samples go, kQ's stay
  EXPECT_EQ(d.queues(), 1u);
  EXPECT_EQ(d.observe(kOnline, kQ, 3, 3, 2 * kMs), A::None);  // compared with the kept sample
  d.remove_queue(kOnline, kQ);
  EXPECT_EQ(d.queues(), 0u);
  d.set_queues(999, {kQ});  // not an online pid
  EXPECT_EQ(d.queues(), 0u);
}

TEST(OnlineDetector, PermissionDeniedFallsBackAtOnce) {
  auto d = watching_one();
  ASSERT_EQ(d.observe(kOnline, kQ, 6, 5, 1 * kMs), A::Suspend);
  EXPECT_EQ(d.unreadable(kOnline, kQ, EPERM, 3 * kMs), A::Fallback);
  EXPECT_TRUE(d.fallen_back());
  EXPECT_EQ(d.reason().error, EPERM);
  EXPECT_EQ(d.suspended_ns_at(10 * kMs), 2 * kMs);  // the suspension ended with the fallback
  // Nothing more is decided.
  EXPECT_EQ(d.observe(kOnline, kQ, 9, 5, 4 * kMs), A::None);
  EXPECT_EQ(d.tick(100 * kMs), A::None);
}

TEST(OnlineDetector, VanishedProcessIsAnExit) {
  auto d = watching_one(config(10, 1000));
  ASSERT_EQ(d.observe(kOnline, kQ, 6, 5, 0), A::Suspend);
  EXPECT_EQ(d.unreadable(kOnline, kQ, ESRCH, 1 * kMs), A::Resume);
  EXPECT_EQ(d.processes(), 0u);
  EXPECT_FALSE(d.fallen_back());
}

TEST(OnlineDetector, OneUnreadableQueueIsToleratedAllOfThemIsNot) {
  OnlineDetector d(config());
  d.add_process(kOnline);
  d.add_queue(kOnline, kQ);
  d.add_queue(kOnline, kQ2);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(d.unreadable(kOnline, kQ2, EFAULT, i * kMs), A::None);
    EXPECT_EQ(d.observe(kOnline, kQ, 1, 1, i * kMs), A::None);
  }
  EXPECT_EQ(d.unreadable(kOnline, kQ, EFAULT, 20 * kMs), A::None);
  EXPECT_EQ(d.unreadable(kOnline, kQ, EFAULT, 21 * kMs), A::None);
  EXPECT_EQ(d.unreadable(kOnline, kQ, EFAULT, 22 * kMs), A::Fallback);
  EXPECT_EQ(d.reason().error, EFAULT);
}

TEST(OnlineDetector, ASuccessfulReadClearsTheFailureCount) {
  auto d = watching_one();
  for (int round = 0; round < 5; ++round) {
    EXPECT_EQ(d.unreadable(kOnline, kQ, EFAULT, 0), A::None);
    EXPECT_EQ(d.unreadable(kOnline, kQ, EFAULT, 0), A::None);
    EXPECT_EQ(d.observe(kOnline, kQ, 5, 5, 0), A::None);
  }
  EXPECT_FALSE(d.fallen_back());
}

TEST(OnlineDetector, FailedSuspendIsRetriedAtTheNextDemand) {
  auto d = watching_one();
  ASSERT_EQ(d.observe(kOnline, kQ, 6, 5, 1 * kMs), A::Suspend);
  d.action_failed(A::Suspend, 1 * kMs);
  EXPECT_FALSE(d.suspended());
  EXPECT_EQ(d.stats().suspends, 0u);
  EXPECT_EQ(d.observe(kOnline, kQ, 6, 5, 2 * kMs), A::Suspend);
}

TEST(OnlineDetector, HoldAndIdleCountFromWhenTheSuspensionTookEffect) {
  auto d = watching_one(config(10, 20));
  ASSERT_EQ(d.observe(kOnline, kQ, 6, 6, 1 * kMs), A::Suspend);
  d.suspend_done(50 * kMs);  // the loop was descheduled: the SUSPEND went out 49 ms later
  EXPECT_EQ(d.tick(51 * kMs), A::None);  // not "idle for 50 ms" already
  EXPECT_EQ(d.next_deadline(), 70 * kMs);
  EXPECT_EQ(d.tick(70 * kMs), A::Resume);
  EXPECT_EQ(d.stats().suspended_ns, 20 * kMs);
  d.suspend_done(80 * kMs);  // not suspended: ignored
  EXPECT_FALSE(d.suspended());
}

TEST(OnlineDetector, DutyCycleBookkeeping) {
  auto d = watching_one(config(1, 0));
  d.observe(kOnline, kQ, 6, 6, 10 * kMs);
  d.tick(11 * kMs);
  d.observe(kOnline, kQ, 7, 7, 20 * kMs);
  EXPECT_EQ(d.suspended_ns_at(25 * kMs), 1 * kMs + 5 * kMs);
}

TEST(OnlineDetector, DoorbellSuspendsAtOnceWithTheExactLatency) {
  auto d = watching_one();
  EXPECT_EQ(d.doorbell(kOnline, 0x7f0000001000ull, 42, 10 * kMs, 10 * kMs + 7 * kUs), A::Suspend);
  EXPECT_TRUE(d.suspended());
  EXPECT_TRUE(d.reason().by_doorbell);
  EXPECT_EQ(d.reason().doorbell_ns, 7 * kUs);
  EXPECT_EQ(d.reason().bound_ns, 0u);
  EXPECT_EQ(d.reason().queue, 0x7f0000001000ull);
  EXPECT_EQ(d.reason().wptr, 42u);
  EXPECT_EQ(d.stats().doorbell_suspends, 1u);
  ASSERT_EQ(d.stats().detection_doorbell.count(), 1u);
  EXPECT_TRUE(d.stats().detection_bound.empty());
}

TEST(OnlineDetector, DoorbellOfAnUnwatchedPidIsIgnored) {
  auto d = watching_one();
  EXPECT_EQ(d.doorbell(kOnline2, 1, 1, kMs, kMs), A::None);
  EXPECT_FALSE(d.suspended());
  EXPECT_EQ(d.stats().doorbells, 0u);
}

TEST(OnlineDetector, DoorbellsDuringASuspensionKeepItFromTheirStoreTime) {
  auto d = watching_one(config(10, 5));
  ASSERT_EQ(d.doorbell(kOnline, 1, 1, kMs, kMs), A::Suspend);
  d.suspend_done(kMs);
  // Rung at 9 ms, seen late at 12 ms: idle counts from the store, so 19 ms.
  EXPECT_EQ(d.doorbell(kOnline, 1, 2, 9 * kMs, 12 * kMs), A::None);
  EXPECT_EQ(d.tick(18 * kMs), A::None);
  EXPECT_EQ(d.next_deadline(), 19 * kMs);
  EXPECT_EQ(d.tick(19 * kMs), A::Resume);
  EXPECT_EQ(d.stats().suspends, 1u);
  EXPECT_EQ(d.stats().doorbells, 2u);
}

TEST(OnlineDetector, DoorbellStampedAfterNowCountsAsNow) {
  // The ring buffer's clock and the loop's are the same clock, but read on
  // different CPUs: never a negative latency.
  auto d = watching_one();
  ASSERT_EQ(d.doorbell(kOnline, 1, 1, 5 * kMs + 1, 5 * kMs), A::Suspend);
  EXPECT_EQ(d.reason().doorbell_ns, 0u);
}

TEST(OnlineDetector, FailedDoorbellSuspendIsUncounted) {
  auto d = watching_one();
  ASSERT_EQ(d.doorbell(kOnline, 1, 1, kMs, kMs), A::Suspend);
  d.action_failed(A::Suspend, kMs);
  EXPECT_FALSE(d.suspended());
  EXPECT_EQ(d.stats().suspends, 0u);
  EXPECT_EQ(d.stats().doorbell_suspends, 0u);
  EXPECT_EQ(d.doorbell(kOnline, 1, 2, 2 * kMs, 2 * kMs), A::Suspend);
}

TEST(OnlineDetector, DoorbellDemandKeepsSuspendedAfterTheOtherOnlineExits) {
  OnlineDetector d(config(10, 5));
  d.add_process(kOnline);
  d.add_process(kOnline2);
  ASSERT_EQ(d.doorbell(kOnline, 1, 1, kMs, kMs), A::Suspend);
  ASSERT_EQ(d.doorbell(kOnline2, 2, 1, 3 * kMs, 3 * kMs), A::None);
  EXPECT_EQ(d.process_exited(kOnline, 4 * kMs), A::None);  // pid 2 rang 1 ms ago
  EXPECT_TRUE(d.suspended());
  EXPECT_EQ(d.tick(13 * kMs), A::Resume);
}

TEST(PollPacer, StaysAtTheMinimumWhenCheap) {
  PacerConfig c;
  c.min_interval_ns = 100 * kUs;
  c.budget = 0.03;
  PollPacer p(c, 0, 0);
  // 1 us of CPU per 100 us: 1 %, under 70 % of 3 %: it speeds up to the minimum.
  std::uint64_t cpu = 0;
  for (std::uint64_t t = 100 * kUs; t <= 200 * kMs; t += 100 * kUs) p.update(t, cpu += 1 * kUs);
  EXPECT_EQ(p.interval_ns(), 100 * kUs);
  EXPECT_NEAR(p.cpu_fraction(), 0.01, 1e-6);
}

TEST(PollPacer, BacksOffUntilUnderBudget) {
  PacerConfig c;
  c.min_interval_ns = 50 * kUs;
  c.budget = 0.03;
  PollPacer p(c, 0, 0);
  // A loop costing 10 us a round: period = interval + 10 us.
  std::uint64_t t = 0, cpu = 0;
  for (int i = 0; i < 20000; ++i) {
    t += p.interval_ns() + 10 * kUs;
    cpu += 10 * kUs;
    p.update(t, cpu);
  }
  // 10 / (interval + 10) <= 0.7 * 3 %  <=>  interval >= ~466 us
  EXPECT_GE(p.interval_ns(), 350 * kUs);
  EXPECT_LE(p.interval_ns(), 600 * kUs);
  EXPECT_GT(p.max_seen_ns(), c.min_interval_ns);
  EXPECT_LE(p.cpu_fraction(), 0.03);
}

TEST(PollPacer, NeverBeyondTheMaximum) {
  PacerConfig c;
  c.min_interval_ns = 100 * kUs;
  c.max_interval_ns = 1 * kMs;
  c.budget = 0.0001;
  PollPacer p(c, 0, 0);
  std::uint64_t t = 0, cpu = 0;
  for (int i = 0; i < 1000; ++i) p.update(t += 1 * kMs, cpu += 100 * kUs);
  EXPECT_EQ(p.interval_ns(), 1 * kMs);
}

}  // namespace
}  // namespace gp
