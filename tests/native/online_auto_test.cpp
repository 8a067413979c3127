// preempt --online-pid end to end on this machine (see online_auto_harness.h):
// a synthetic online process advances AQL-like dispatch ids in its own memory,
// the production loop reads them with process_vm_readv and suspends/resumes a
// real (ptraced) synthetic offline process through a fake KFD.
//
// Timing bounds here are loose on purpose (a shared 2-core machine): they
// catch a broken loop, not a slow one. The numbers themselves are printed, and
// measured properly by tests/bench/online_detect_bench.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "online_auto_harness.h"

namespace gp::test {
namespace {

using namespace std::chrono_literals;

// Starts the loop on `on`'s queue 0 with a hold that lasts the whole test,
// submits once and waits for the suspension.
bool suspend_for_good(SyntheticOnline& on, AutoHarness& h) {
  h.watch(on, 0);
  auto o = options(10, 10'000);
  o.online = {on.pid()};
  h.start(o);
  std::this_thread::sleep_for(200ms);
  on.run({0, 1, 0, 0, false});
  return wait_until([&] { return h.kfd.suspended.load(); });
}

TEST(OnlineAuto, EachSubmissionSuspendsAndIdleResumes) {
  SyntheticOnline on;
  AutoHarness h;
  h.watch(on, 0);
  auto o = options(10, 20);
  o.online = {on.pid()};
  h.start(o);
  std::this_thread::sleep_for(200ms);  // the loop has sampled the idle queue
  ASSERT_TRUE(h.kfd.suspends().empty());

  // 20 submissions 80 ms apart: more than idle + hold, so each finds the offline job running.
  constexpr int kN = 20;
  on.run({0, kN, 80'000, 20, false});
  ASSERT_TRUE(wait_until([&] { return h.kfd.resumes().size() >= kN; })) << h.output();
  std::this_thread::sleep_for(50ms);
  h.stop();

  auto sus = h.kfd.suspends(), res = h.kfd.resumes();
  EXPECT_EQ(sus.size(), static_cast<std::size_t>(kN)) << h.output();
  EXPECT_EQ(res.size(), static_cast<std::size_t>(kN));
  auto lat = detection_latencies(submit_times(on, 0, kN), sus);
  ASSERT_EQ(lat.size(), static_cast<std::size_t>(kN));
  // Loose: this machine's builds can keep the loop off a CPU for tens of ms.
  for (auto l : lat) EXPECT_LT(l, 250'000'000u) << "a submission took more than 250 ms to suspend";
  EXPECT_LT(pctl_us(lat, 50), 20'000.0) << "median detection over 20 ms";
  const auto& decided = h.report.suspend_at_ns;  // the hold counts from the decision, not the ioctl
  ASSERT_EQ(decided.size(), static_cast<std::size_t>(kN));
  for (std::size_t i = 0; i < std::min(decided.size(), res.size()); ++i) {
    // Resumed after the hold (20 ms), not much later than idle + hold + scheduling.
    EXPECT_GE(res[i] - decided[i], 20'000'000u);
    EXPECT_LT(res[i] - decided[i], 120'000'000u);
  }
  EXPECT_LE(h.report.cpu_fraction, 0.03) << h.output();
  EXPECT_EQ(h.report.detector.suspends, static_cast<std::uint64_t>(kN));
  EXPECT_EQ(h.rc, 0);
  // The loop runs on the offline target's tracer thread: the thread that
  // decides is the one that issues the ioctl, with no wake-up of another.
  ASSERT_NE(h.report.loop_tid, 0);
  for (pid_t tid : h.kfd.ioctl_tids()) EXPECT_EQ(tid, h.report.loop_tid);
  std::printf("submission -> SUSPEND ioctl entry: p50 %.1f us, p99 %.1f us, max %.1f us (n=%zu); "
              "loop CPU %.2f%%, interval %.0f-%.0f us\n",
              pctl_us(lat, 50), pctl_us(lat, 99), pctl_us(lat, 100), lat.size(), 100 * h.report.cpu_fraction,
              h.report.interval_min_ns / 1e3, h.report.interval_max_ns / 1e3);
  EXPECT_NE(h.output().find("offline duty cycle"), std::string::npos);
}

TEST(OnlineAuto, BurstsDoNotFlap) {
  SyntheticOnline on;
  AutoHarness h;
  h.watch(on, 0);
  auto o = options(50, 20);
  o.online = {on.pid()};
  h.start(o);
  std::this_thread::sleep_for(200ms);
  // 150 submissions 3 ms apart (gaps far under --idle-ms 50), each fetched at
  // once: the loop only ever sees the write id move, never a waiting packet.
  on.run({0, 150, 3'000, 0, false});
  ASSERT_TRUE(wait_until([&] { return !h.kfd.resumes().empty(); })) << h.output();
  std::this_thread::sleep_for(100ms);
  h.stop();
  // The synthetic process itself may be kept off a CPU on a loaded machine:
  // a real gap of more than the idle time would make a resume correct.
  std::uint64_t max_gap = 0;
  for (std::uint32_t i = 1; i < on.submits(); ++i) max_gap = std::max(max_gap, on.submit_ns(i) - on.submit_ns(i - 1));
  if (max_gap >= 40'000'000u) GTEST_SKIP() << "the synthetic process stalled " << max_gap / 1e6 << " ms";
  EXPECT_EQ(h.kfd.suspends().size(), 1u) << h.output();
  EXPECT_EQ(h.kfd.resumes().size(), 1u) << h.output();
  // The one suspension spans the whole burst and ends only --idle-ms after its last submission.
  EXPECT_GE(h.kfd.resumes()[0], on.submit_ns(on.submits() - 1) + 50'000'000u);
  EXPECT_GE(h.kfd.resumes()[0] - h.report.suspend_at_ns.at(0), 440'000'000u);
}

TEST(OnlineAuto, CpuStaysWithinBudgetEvenWhenAskedToPollFaster) {
  SyntheticOnline on;
  AutoHarness h;
  for (int q = 0; q < kSyntheticQueues; ++q) h.watch(on, q);
  auto o = options(10, 20, /*poll_us=*/10, /*budget=*/3.0);
  o.online = {on.pid()};
  h.start(o);
  std::this_thread::sleep_for(1500ms);
  on.run({1, 5, 100'000, 10, false});  // some work too
  std::this_thread::sleep_for(200ms);
  h.stop();
  std::printf("loop CPU %.2f%% of one core over %.1f s, %llu polls, interval %.0f-%.0f us (asked 10 us)\n",
              100 * h.report.cpu_fraction, h.report.wall_ns / 1e9,
              static_cast<unsigned long long>(h.report.polls), h.report.interval_min_ns / 1e3,
              h.report.interval_max_ns / 1e3);
  EXPECT_LE(h.report.cpu_fraction, 0.03) << h.output();
  EXPECT_GT(h.report.interval_max_ns, 10'000u);  // the pacer had to back off
  EXPECT_EQ(h.kfd.suspends().size(), 5u) << h.output();
}

TEST(OnlineAuto, OnlineExitResumesTheOfflineJob) {
  SyntheticOnline on;
  AutoHarness h;
  ASSERT_TRUE(suspend_for_good(on, h)) << h.output();
  const auto killed = mono_ns();
  on.kill();
  ASSERT_TRUE(wait_until([&] { return !h.kfd.resumes().empty(); }, 2s)) << h.output();
  EXPECT_LT(h.kfd.resumes()[0] - killed, 200'000'000u);
  // With no online process left the loop ends by itself.
  h.loop.join();
  EXPECT_EQ(h.rc, 0);
  EXPECT_NE(h.output().find("every online process has exited"), std::string::npos) << h.output();
  EXPECT_EQ(h.report.detector.exits, 1u);
}

TEST(OnlineAuto, QueuesCreatedAndDestroyedAtRunTime) {
  SyntheticOnline on;
  AutoHarness h;
  auto o = options(5, 5);
  o.online = {on.pid()};
  h.start(o);
  std::this_thread::sleep_for(150ms);
  on.run({2, 3, 1'000, 0, false});  // not in the map yet: invisible
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(h.kfd.suspends().empty()) << h.output();

  h.watch(on, 2);  // the create event arrives
  std::this_thread::sleep_for(100ms);
  on.run({2, 1, 0, 0, false});
  ASSERT_TRUE(wait_until([&] { return h.kfd.resumes().size() == 1; })) << h.output();

  // Destroyed: its id moving again is no longer demand.
  h.src.push(online_queue_event(EventKind::QueueRemove, on.pid(), 2, 0, 0));
  std::this_thread::sleep_for(100ms);
  on.run({2, 3, 1'000, 0, false});
  std::this_thread::sleep_for(100ms);
  h.stop();
  EXPECT_EQ(h.kfd.suspends().size(), 1u) << h.output();
  EXPECT_NE(h.output().find("watching 1 AQL queue(s) (qids 2)"), std::string::npos) << h.output();
  EXPECT_NE(h.output().find("watching 0 AQL queue(s)"), std::string::npos) << h.output();
}

TEST(OnlineAuto, SeveralOnlineProcesses) {
  SyntheticOnline a, b;
  AutoHarness h;
  h.watch(a, 0);
  h.watch(b, 1);
  auto o = options(30, 10);
  o.online = {a.pid(), b.pid()};
  h.start(o);
  std::this_thread::sleep_for(200ms);
  b.run({1, 1, 0, 50, false});
  ASSERT_TRUE(wait_until([&] { return h.kfd.suspended.load(); })) << h.output();
  // a keeps it busy past b's idle time: still one suspension.
  a.run({0, 20, 4'000, 0, false});
  ASSERT_TRUE(wait_until([&] { return !h.kfd.resumes().empty(); })) << h.output();
  h.stop();
  std::uint64_t max_gap = 0;
  for (std::uint32_t i = 1; i < a.submits(); ++i) max_gap = std::max(max_gap, a.submit_ns(i) - a.submit_ns(i - 1));
  if (max_gap >= 25'000'000u) GTEST_SKIP() << "the synthetic process stalled " << max_gap / 1e6 << " ms";
  EXPECT_GE(h.kfd.resumes()[0], a.submit_ns(19) + 30'000'000u);  // only after a's last submission + idle
  EXPECT_EQ(h.kfd.suspends().size(), 1u) << h.output();
}

// The loop keeps the offline target's tracer thread: it must still hear the
// target's exit (the waiter's status reaches it through serve_round) and end.
TEST(OnlineAuto, OfflineExitIsHeardByTheLoopOnItsTracerThread) {
  SyntheticOnline on;
  AutoHarness h;
  ASSERT_TRUE(suspend_for_good(on, h)) << h.output();
  const auto killed = mono_ns();
  ASSERT_EQ(::kill(h.offline, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return h.rc != -1; }, 3s)) << "the loop did not end: " << h.output();
  h.loop.join();
  EXPECT_LT(mono_ns() - killed, 3'000'000'000u);
  EXPECT_EQ(h.rc, 0) << h.output();
  EXPECT_NE(h.output().find("every offline target is gone"), std::string::npos) << h.output();
  EXPECT_TRUE(h.ctl.all_gone());
}

TEST(OnlineAuto, UnreadablePointersFallBackWithAClearReport) {
  SyntheticOnline on;
  AutoHarness h;
  // Addresses in the first page: never mapped, so process_vm_readv and
  // /proc/PID/mem both fail (EFAULT / EIO).
  h.src.push(online_queue_event(EventKind::QueueAdd, on.pid(), 0, 0x10, 0x18));
  auto o = options(10, 10);
  o.online = {on.pid()};
  h.start(o);
  h.loop.join();  // ends by itself: no --socket to fall back to
  const auto text = h.output();
  EXPECT_EQ(h.rc, 1) << text;
  EXPECT_TRUE(h.report.fell_back);
  EXPECT_NE(text.find("cannot read its dispatch ids"), std::string::npos) << text;
  EXPECT_NE(text.find("--socket PATH"), std::string::npos) << text;
  EXPECT_TRUE(h.kfd.suspends().empty());
}

}  // namespace
}  // namespace gp::test
