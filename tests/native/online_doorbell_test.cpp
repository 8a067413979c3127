// preempt --online-pid with the doorbell uprobes (bpf/doorbell.bpf.c), on
// this machine's kernel: the real BPF object, real uprobes on a stand-in
// libhsa-runtime64.so.1 (fake_hsa_runtime.c) mapped by the synthetic online
// process, which rings its doorbell after each submission as ROCclr does; the
// production loop, detector and controller; the KFD ioctls to a timestamping
// fake (online_auto_harness.h).
//
// Timing bounds are loose (a shared 2-core machine): they catch a broken
// path, not a slow one; the benchmark measures (tests/bench/online_detect_bench.cpp).
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <poll.h>

#include <fstream>
#include <spawn.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "attach/doorbell_probe.h"
#include "attach/uprobe_multi.h"
#include "base/stop_signal.h"
#include "host/cpu_latency_request.h"
#include "online_auto_harness.h"

namespace gp::test {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<DoorbellProbe> load_probe(DoorbellProbe::Links links = DoorbellProbe::Links::Best) {
  std::string why;
  auto p = DoorbellProbe::load(nullptr, &why, links);
  EXPECT_TRUE(p) << "the doorbell BPF object does not load on this kernel: " << why;
  return p;
}

TEST(DoorbellProbe, FindsTheRuntimeInTheSyntheticProcessAndAttaches) {
  SyntheticOnline on;
  auto probe = load_probe();
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->attach(on.pid()), "");
  EXPECT_TRUE(probe->attached(on.pid()));
  EXPECT_NE(probe->library(on.pid()).find("libhsa-runtime64.so"), std::string::npos);
  EXPECT_EQ(probe->attach(on.pid()), "") << "attach is idempotent";
  probe->detach(on.pid());
  EXPECT_FALSE(probe->attached(on.pid()));
}

TEST(DoorbellProbe, AProcessWithoutTheRuntimeIsRefusedWithTheReason) {
  pid_t pid;
  char sleep_bin[] = "/bin/sleep", arg[] = "5";
  char* argv[] = {sleep_bin, arg, nullptr};
  ASSERT_EQ(::posix_spawn(&pid, sleep_bin, nullptr, nullptr, argv, environ), 0);
  std::this_thread::sleep_for(100ms);  // exec'd
  auto probe = load_probe();
  ASSERT_TRUE(probe);
  EXPECT_NE(probe->attach(pid).find("no libhsa-runtime64 is mapped"), std::string::npos);
  EXPECT_FALSE(probe->attached(pid));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

TEST(DoorbellProbe, CountsDoorbellsOfTheWatchedProcessOnlyAndFiltersOtherSignals) {
  SyntheticOnline on;
  auto probe = load_probe();
  ASSERT_TRUE(probe);
  ASSERT_EQ(probe->attach(on.pid()), "");

  on.run({0, 5, 0, 0, false, /*ring=*/true});
  auto c = probe->counts(on.pid());
  EXPECT_EQ(c.doorbells, 5u);
  EXPECT_EQ(c.other, 0u);
  EXPECT_EQ(c.last_queue, on.queue_addr(0));
  EXPECT_EQ(c.last_value, 4u) << "the index stored: write id - 1";
  EXPECT_EQ(on.doorbell_word(0), 4u) << "the stand-in runtime did store it";
  EXPECT_NE(c.last_ns, 0u);

  on.run({0, 3, 0, 0, false, false, /*completion_only=*/true});
  c = probe->counts(on.pid());
  EXPECT_EQ(c.doorbells, 5u) << "completion-signal stores are not doorbells";
  EXPECT_EQ(c.other, 6u) << "3 x (screlease + relaxed) to a USER-kind signal";

  // The same library, the same doorbell signal (shared memory), stored from
  // this process: not watched, so neither counted nor even trapped.
  FakeHsa::get().screlease(on.doorbell_handle(0), 99);
  EXPECT_EQ(probe->counts(on.pid()).doorbells, 5u);
  EXPECT_EQ(on.doorbell_word(0), 99u);
}

TEST(DoorbellProbe, ArmedItWakesOnceThenOnlyTheSlotMoves) {
  SyntheticOnline on;
  auto probe = load_probe();
  ASSERT_TRUE(probe);
  ASSERT_EQ(probe->attach(on.pid()), "");
  on.run({0, 2, 0, 0, false, true});
  EXPECT_TRUE(probe->drain().empty()) << "not armed: no record";
  ASSERT_TRUE(probe->take_new(on.pid()));
  EXPECT_FALSE(probe->take_new(on.pid())) << "nothing new since";

  probe->arm();
  const auto before = mono_ns();
  on.run({0, 3, 0, 0, false, true});
  pollfd pfd{probe->ready_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 2000), 1) << "the armed doorbell woke the ring buffer's epoll fd";
  auto recs = probe->drain();
  ASSERT_EQ(recs.size(), 1u) << "one wake-up per arming";
  EXPECT_EQ(recs[0].pid, on.pid());
  EXPECT_EQ(recs[0].queue, on.queue_addr(0));
  EXPECT_EQ(recs[0].value, 2u) << "the first store after arming";
  EXPECT_GE(recs[0].at_ns, before) << "bpf_ktime_get_ns and CLOCK_MONOTONIC are one clock";
  EXPECT_LE(recs[0].at_ns, mono_ns());
  EXPECT_FALSE(probe->armed());
  auto last = probe->take_new(on.pid());
  ASSERT_TRUE(last);
  EXPECT_EQ(last->value, 4u);
}

// The stand-in has the entry shape of Debian's real ROCr builds
// (docs/performance.md): 6.1.2 and later start with endbr64, 5.2.3 with the
// RIP-relative load of the API table; then the tail jump through it.
TEST(DoorbellProbe, TheStandInRuntimeHasTheRealPrologues) {
  const auto* p = reinterpret_cast<const unsigned char*>(FakeHsa::get().screlease);
  const unsigned char v6[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x8b, 0x05};  // endbr64; mov rax,[rip+...]
  EXPECT_EQ(std::memcmp(p, v6, sizeof v6), 0);
  EXPECT_EQ(p[11], 0xff) << "jmp [rax+disp32]";
  EXPECT_EQ(p[12], 0xa0);
  std::uint32_t slot;
  std::memcpy(&slot, p + 13, 4);
  EXPECT_EQ(slot, 0x160u) << "ROCR's table slot of hsa_signal_store_screlease";
#ifdef GP_FAKE_HSA_523_LIB
  // Read from the file: mapping it here would put a second libhsa-runtime64
  // in every synthetic child forked later.
  const auto off = elf_function_offset(GP_FAKE_HSA_523_LIB, "hsa_signal_store_relaxed");
  ASSERT_NE(off, 0u);
  std::ifstream f(GP_FAKE_HSA_523_LIB, std::ios::binary);
  unsigned char q[16] = {};
  f.seekg(static_cast<std::streamoff>(off));
  ASSERT_TRUE(f.read(reinterpret_cast<char*>(q), sizeof q));
  const unsigned char v5[] = {0x48, 0x8b, 0x05};  // mov rax,[rip+...], no endbr64
  EXPECT_EQ(std::memcmp(q, v5, sizeof v5), 0);
  std::memcpy(&slot, q + 9, 4);
  EXPECT_EQ(q[7], 0xff);
  EXPECT_EQ(slot, 0x158u) << "ROCR's table slot of hsa_signal_store_relaxed";
#endif
}

// The probe attaches by the offsets it reads from the library's dynamic
// symbols (so putting the uprobes back needs no ELF parse).
TEST(DoorbellProbe, FindsTheExportedStoresOffsetsInTheElf) {
  const auto& hsa = FakeHsa::get();
  Dl_info info{};
  ASSERT_NE(::dladdr(reinterpret_cast<void*>(hsa.screlease), &info), 0);
  const auto base = reinterpret_cast<std::uintptr_t>(info.dli_fbase);
  EXPECT_EQ(elf_function_offset(hsa.path, "hsa_signal_store_screlease"),
            reinterpret_cast<std::uintptr_t>(hsa.screlease) - base);
  EXPECT_EQ(elf_function_offset(hsa.path, "hsa_signal_store_relaxed"),
            reinterpret_cast<std::uintptr_t>(hsa.relaxed) - base);
  EXPECT_EQ(elf_function_offset(hsa.path, "hsa_no_such_function"), 0u);
  EXPECT_EQ(elf_function_offset("/nonexistent", "hsa_signal_store_relaxed"), 0u);
  EXPECT_EQ(elf_function_offset("/proc/self/status", "hsa_signal_store_relaxed"), 0u) << "not an ELF";
}

// remove_uprobes / insert_uprobes on a watched process: the breakpoints
// leave its code (read from the child: the byte at each entry), a burst of
// stores then neither traps nor counts, and once they are back the next
// store counts again.
TEST(DoorbellProbe, RemovedUprobesStopTrappingAndInsertedOnesCountAgain) {
  SyntheticOnline on;
  auto probe = load_probe();
  ASSERT_TRUE(probe);
  ASSERT_EQ(probe->attach(on.pid()), "");
  const auto& hsa = FakeHsa::get();
  EXPECT_EQ(on.code_byte(hsa.screlease), 0xcc) << "a uprobe's breakpoint";
  EXPECT_EQ(on.code_byte(hsa.relaxed), 0xcc);
  on.run({0, 3, 0, 0, false, /*ring=*/true});
  EXPECT_EQ(probe->counts(on.pid()).doorbells, 3u);

  probe->remove_uprobes();
  EXPECT_FALSE(probe->uprobes_in());
  ASSERT_TRUE(wait_until([&] { return probe->removals_pending() == 0; }, 20s)) << "the helper thread is stuck";
  EXPECT_EQ(on.code_byte(hsa.screlease), 0xf3) << "endbr64 again";
  EXPECT_EQ(on.code_byte(hsa.relaxed), 0xf3);
  EXPECT_TRUE(probe->attached(on.pid())) << "still watched";
  constexpr std::uint32_t kBurst = 1000;
  on.run({0, kBurst, 0, 0, false, true});
  EXPECT_EQ(probe->counts(on.pid()).doorbells, 3u) << "nothing probed";
  EXPECT_EQ(on.doorbell_word(0), 3u + kBurst - 1) << "the stores themselves happened";
  // The online thread's own timing agrees: a trapped store takes microseconds
  // (all 1,000 would), an untrapped one nanoseconds unless an interrupt or
  // preemption lands in it (a few, on a loaded machine).
  std::uint32_t slow = 0;
  for (std::uint32_t i = 3; i < on.submits(); ++i) slow += on.store_ns(i) > 2'000;
  EXPECT_LE(slow, 5u) << "stores that took > 2 us";

  EXPECT_TRUE(probe->insert_uprobes().empty());
  EXPECT_TRUE(probe->uprobes_in());
  EXPECT_EQ(on.code_byte(hsa.screlease), 0xcc);
  on.run({0, 1, 0, 0, false, true});
  const auto c = probe->counts(on.pid());
  EXPECT_EQ(c.doorbells, 4u);
  EXPECT_EQ(c.last_value, 3u + kBurst);
  EXPECT_GE(c.last_cpu, 0) << "the CPU of the store";
  EXPECT_LT(c.last_cpu, CPU_SETSIZE);
  const auto st = probe->arming_stats();
  EXPECT_EQ(st.removals, 1u);
  EXPECT_EQ(st.removals_done, 1u);
  EXPECT_EQ(st.insertions, 1u);
  EXPECT_GT(st.insert_ns_max, 0u);
}

// A process attached while the uprobes are out is only registered; putting
// them back links it. One that exited meanwhile is dropped with the reason.
TEST(DoorbellProbe, AttachWhileOutLinksAtInsertAndAGoneProcessIsDropped) {
  auto probe = load_probe();
  ASSERT_TRUE(probe);
  SyntheticOnline a, b;
  ASSERT_EQ(probe->attach(a.pid()), "");
  probe->remove_uprobes();
  ASSERT_EQ(probe->attach(b.pid()), "");
  ASSERT_TRUE(wait_until([&] { return probe->removals_pending() == 0; }, 20s));
  const auto& hsa = FakeHsa::get();
  EXPECT_EQ(b.code_byte(hsa.screlease), 0xf3) << "not linked while they are out";
  b.run({0, 2, 0, 0, false, true});
  EXPECT_EQ(probe->counts(b.pid()).doorbells, 0u);
  const pid_t gone = a.pid();
  a.kill();
  const auto failed = probe->insert_uprobes();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].first, gone);
  EXPECT_FALSE(failed[0].second.empty());
  EXPECT_FALSE(probe->attached(gone));
  EXPECT_TRUE(probe->attached(b.pid()));
  EXPECT_EQ(b.code_byte(hsa.screlease), 0xcc);
  b.run({0, 2, 0, 0, false, true});
  EXPECT_EQ(probe->counts(b.pid()).doorbells, 2u);
}

// doctor --online-pid, the binary: attaches to a process ringing its doorbell and counts.
TEST(DoorbellProbe, DoctorOnlinePidCountsTheProcessesDoorbells) {
  SyntheticOnline on;
  on.start({0, 400, 5'000, 0, false, /*ring=*/true});  // 2 s of one doorbell every 5 ms
  const std::string cmd = std::string(GP_BINARY) + " doctor --json --online-seconds 0.5 --online-pid " +
                          std::to_string(on.pid()) + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_TRUE(p);
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  const auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  ASSERT_TRUE(j["online"].is_object()) << out;
  EXPECT_EQ(j["online"]["pid"], on.pid());
  EXPECT_EQ(j["online"]["attached"], true) << out;
  EXPECT_NE(j["online"]["library"].get<std::string>().find("libhsa-runtime64.so"), std::string::npos);
  EXPECT_GT(j["online"]["doorbells"].get<std::uint64_t>(), 20u) << out;
  EXPECT_EQ(j["online"]["other_stores"], 0u);
}

// The loop with the probe on one online process.
struct DoorbellAuto {
  explicit DoorbellAuto(DoorbellProbe::Links links = DoorbellProbe::Links::Best) : probe(load_probe(links)) {}
  std::unique_ptr<DoorbellProbe> probe;  // first: outlives the loop that uses it
  SyntheticOnline on;
  AutoHarness h;

  void start(AutoOptions o) {
    ASSERT_TRUE(probe);
    h.watch(on, 0);
    o.online = {on.pid()};
    o.doorbell = probe.get();
    h.start(o);
    std::this_thread::sleep_for(200ms);
  }
};

TEST(OnlineDoorbell, EachSubmissionSuspendsByItsDoorbellAndIdleResumes) {
  DoorbellAuto t;
  // The uprobes stay in: with them taken out while suspended (the default),
  // each resume waits for them to be put back, which here took up to ~120 ms
  // while the kernel was still removing the previous ones, so submissions
  // 80 ms apart could fall into one suspension. The default is tested by
  // UprobesOutWhileSuspended.AndBackBeforeTheResume; the benchmark
  // measures that wait.
  auto o = options(10, 20);
  o.doorbell_disarm = false;
  t.start(o);
  ASSERT_TRUE(t.h.kfd.suspends().empty()) << t.h.output();
  constexpr int kN = 20;
  t.on.run({0, kN, 80'000, 20, false, /*ring=*/true});
  ASSERT_TRUE(wait_until([&] { return t.h.kfd.resumes().size() >= kN; })) << t.h.output();
  std::this_thread::sleep_for(50ms);
  t.h.stop();

  const auto& st = t.h.report.detector;
  EXPECT_EQ(t.h.kfd.suspends().size(), static_cast<std::size_t>(kN)) << t.h.output();
  EXPECT_EQ(st.suspends, static_cast<std::uint64_t>(kN));
  // Each found the offline job running and the probe armed: the doorbell,
  // not a poll 5 ms later, decided (a poll can win only if the loop was
  // already awake for it at that very moment: allow a few).
  EXPECT_GE(st.doorbell_suspends, static_cast<std::uint64_t>(kN - 3)) << t.h.output();
  EXPECT_EQ(t.h.report.doorbells_rung, static_cast<std::uint64_t>(kN));
  EXPECT_EQ(t.h.report.doorbell_pids, std::vector<pid_t>{t.on.pid()});
  auto lat = detection_latencies(submit_times(t.on, 0, kN), t.h.kfd.suspends());
  ASSERT_EQ(lat.size(), static_cast<std::size_t>(kN));
  for (auto l : lat) EXPECT_LT(l, 250'000'000u);
  EXPECT_LT(pctl_us(lat, 50), 5'000.0) << "median detection over 5 ms: the doorbell path is not working";
  // The exact latency it reports (store -> decision) is part of the measured one.
  ASSERT_FALSE(st.detection_doorbell.empty());
  EXPECT_LE(st.detection_doorbell.percentile_us(50), pctl_us(lat, 50));
  EXPECT_LE(t.h.report.cpu_fraction, 0.03) << t.h.output();
  std::printf("doorbell: submission -> SUSPEND ioctl entry p50 %.1f us, p99 %.1f us, max %.1f us (n=%zu); "
              "store -> decision p50 %.1f us; loop CPU %.2f%%\n",
              pctl_us(lat, 50), pctl_us(lat, 99), pctl_us(lat, 100), lat.size(),
              st.detection_doorbell.percentile_us(50), 100 * t.h.report.cpu_fraction);
  const auto text = t.h.output();
  EXPECT_NE(text.find("doorbell uprobes on "), std::string::npos) << text;
  EXPECT_NE(text.find("after the store"), std::string::npos) << text;
  EXPECT_NE(text.find("detection latency (exact"), std::string::npos) << text;
}

// The loop re-arms the probe before it sleeps again after a resume, not only
// after its next wake-up: otherwise a doorbell in that sleep (up to the
// safety-net interval, here 2 s) only moves the slot and waits for the poll.
TEST(OnlineDoorbell, ADoorbellRightAfterAResumeIsHeardAtOnce) {
  DoorbellAuto t;
  auto o = options(5, 5);
  o.doorbell_poll_ms = 2'000;
  o.idle_latency_us = 37;  // and the PM QoS request, held while the mode runs
  const long qos_before = cpu_latency_target();
  ASSERT_GT(qos_before, 37) << "another process holds a lower CPU latency request; cannot test ours";
  t.start(o);
  EXPECT_EQ(cpu_latency_target(), 37) << t.h.output();
  constexpr int kRounds = 5;
  for (int i = 0; i < kRounds; ++i) {
    const auto resumed = t.h.kfd.resumes().size();
    t.on.run({0, 1, 0, 0, false, /*ring=*/true});
    ASSERT_TRUE(wait_until([&] { return t.h.kfd.resumes().size() > resumed; })) << t.h.output();
  }
  t.h.stop();
  auto lat = detection_latencies(submit_times(t.on, 0, kRounds), t.h.kfd.suspends());
  ASSERT_EQ(lat.size(), static_cast<std::size_t>(kRounds)) << t.h.output();
  for (auto l : lat) EXPECT_LT(l, 500'000'000u) << "a doorbell waited for the 2 s poll:\n" << t.h.output();
  EXPECT_EQ(cpu_latency_target(), qos_before) << "the request ends with the mode";
  EXPECT_NE(t.h.output().find("Idle CPUs held to states that wake within 37 us"), std::string::npos)
      << t.h.output();
  EXPECT_EQ(t.h.report.detector.doorbell_suspends, static_cast<std::uint64_t>(kRounds)) << t.h.output();
}

// The loop runs on the tracer thread, which blocks the stop signals: Ctrl-C
// (its handler runs on another thread) must still wake it at once through
// stop_fd(), not at its next timeout (here the 10 s safety-net poll).
TEST(OnlineDoorbell, CtrlCWakesTheLoopOnTheTracerThreadAtOnce) {
  install_stop_signals();
  DoorbellAuto t;
  auto o = options(5, 5);
  o.doorbell_poll_ms = 10'000;
  t.start(o);
  const auto asked = mono_ns();
  ASSERT_EQ(::kill(::getpid(), SIGINT), 0);
  const bool ended = wait_until([&] { return t.h.rc != -1; }, 5s);
  const auto took = mono_ns() - asked;
  clear_stop_for_testing();
  ASSERT_TRUE(ended) << "the loop slept through Ctrl-C:\n" << t.h.output();
  t.h.loop.join();
  EXPECT_LT(took, 2'000'000'000u);
  EXPECT_EQ(t.h.rc, 0);
  EXPECT_NE(t.h.output().find("--- preempt --online-pid: stopped after"), std::string::npos) << t.h.output();
}

// Issue 19 part 4: while the offline job is suspended the uprobes are out,
// a burst of 1,000 submissions costs at most one probed store, they are back
// before the RESUME ioctl, and the first store after the resume suspends at
// once by its doorbell. The exit statistics count both kinds.
//   uprobe_multi links (6.10 on): the loop hands them over as soon as the
//   SUSPEND ioctl has returned and closing one takes the breakpoints out
//   first, so the burst starts at that hand-over, racing the helper thread.
//   perf-event links (older kernels): the breakpoint stays until a grace
//   period has passed; the burst starts once it is gone.
class UprobesOutWhileSuspended : public ::testing::TestWithParam<DoorbellProbe::Links> {};

TEST_P(UprobesOutWhileSuspended, AndBackBeforeTheResume) {
  const bool multi = GetParam() == DoorbellProbe::Links::Best;
  if (multi && !uprobe_multi_supported()) GTEST_SKIP() << "this kernel makes no usable uprobe_multi links (Linux 6.10+)";
  DoorbellAuto t(GetParam());
  const auto& hsa = FakeHsa::get();
  std::atomic<int> byte_at_resume{-1};
  t.h.kfd.on_resume = [&] {
    if (byte_at_resume < 0) byte_at_resume = t.on.code_byte(hsa.screlease);
  };
  auto o = options(30, 1'500);
  o.doorbell_poll_ms = 5;
  t.start(o);
  EXPECT_EQ(t.on.code_byte(hsa.screlease), 0xcc) << "in while the offline job runs";
  t.on.run({0, 1, 0, 0, false, /*ring=*/true});
  ASSERT_TRUE(wait_until([&] { return t.h.kfd.suspended.load() && !t.probe->uprobes_in(); })) << t.h.output();
  if (!multi) {  // the removal's grace period, then the code is the runtime's own
    ASSERT_TRUE(wait_until([&] { return t.on.code_byte(hsa.screlease) != 0xcc; }, 1'200ms))
        << "the uprobes stayed in while suspended:\n" << t.h.output();
  }
  ASSERT_TRUE(t.h.kfd.resumes().empty()) << "resumed before the burst (hold 1.5 s): " << t.h.output();
  const auto probed_before = t.probe->counts(t.on.pid()).doorbells;
  constexpr std::uint32_t kBurst = 1000;
  t.on.run({0, kBurst, 0, 0, false, true});
  const auto counted_burst = t.probe->counts(t.on.pid()).doorbells - probed_before;
  std::uint32_t with_bp = 0, slow = 0;
  for (std::uint32_t i = 1; i <= kBurst; ++i) {
    with_bp += t.on.store_probed(i);
    slow += t.on.store_ns(i) > 2'000;
  }
  EXPECT_LE(with_bp, 1u) << "stores of the burst made with the breakpoint in\n" << t.h.output();
  EXPECT_LE(counted_burst, 1u) << t.h.output();
  EXPECT_LE(slow, 5u) << "stores of the burst that took > 2 us (all 1,000 if they trapped; "
                         "an interrupt or preemption makes a few slow on a loaded machine)";
  ASSERT_TRUE(t.h.kfd.resumes().empty()) << "the burst is demand: still suspended\n" << t.h.output();

  ASSERT_TRUE(wait_until([&] { return !t.h.kfd.resumes().empty(); }, 5s)) << t.h.output();
  EXPECT_EQ(byte_at_resume.load(), 0xcc) << "the uprobes were not back when the RESUME ioctl came";
  EXPECT_EQ(t.on.code_byte(hsa.screlease), 0xcc);
  const auto resumed = t.h.kfd.resumes()[0];
  std::this_thread::sleep_for(20ms);
  t.on.run({0, 1, 0, 0, false, true});
  ASSERT_TRUE(wait_until([&] { return t.h.kfd.suspends().size() >= 2; })) << t.h.output();
  t.h.stop();

  const auto& st = t.h.report.detector;
  EXPECT_EQ(st.doorbell_suspends, 2u) << "the store after the resume was heard by its uprobe:\n" << t.h.output();
  auto lat = detection_latencies({t.on.submit_ns(kBurst + 1)}, t.h.kfd.suspends());
  ASSERT_EQ(lat.size(), 1u);
  EXPECT_GT(t.on.submit_ns(kBurst + 1), resumed);
  EXPECT_LT(lat[0], 250'000'000u) << "detected by the uprobe, not a poll";
  const auto& a = t.h.report.doorbell_arming;
  EXPECT_TRUE(a.enabled);
  EXPECT_EQ(a.uprobes.uprobe_multi, multi);
  EXPECT_EQ(a.probed_stores, t.h.report.doorbells_rung + t.h.report.doorbell_other_stores + a.stale_stores);
  EXPECT_LE(a.probed_stores, 3u) << "the first store, at most one of the burst, the one after the resume";
  EXPECT_EQ(a.unprobed_submissions, kBurst) << t.h.output();
  EXPECT_GE(a.uprobes.removals, 2u) << "out after each suspension";
  EXPECT_GE(a.uprobes.insertions, 1u);
  const auto text = t.h.output();
  EXPECT_NE(text.find("doorbell uprobes out while suspended: "), std::string::npos) << text;
  EXPECT_NE(text.find(fmt::format("{} submission(s) unprobed", kBurst)), std::string::npos) << text;
  EXPECT_NE(text.find(multi ? "uprobe_multi links closed within" : "perf-event uprobe links closed within"),
            std::string::npos)
      << text;
}

INSTANTIATE_TEST_SUITE_P(OnlineDoorbell, UprobesOutWhileSuspended,
                         ::testing::Values(DoorbellProbe::Links::Best, DoorbellProbe::Links::PerfEvent),
                         [](const auto& info) {
                           return info.param == DoorbellProbe::Links::Best ? "UprobeMulti" : "PerfEventLinks";
                         });

// doorbell_disarm = false keeps the previous behaviour: in all the time.
TEST(OnlineDoorbell, WithoutDisarmTheUprobesStayInWhileSuspended) {
  DoorbellAuto t;
  auto o = options(30, 400);
  o.doorbell_disarm = false;
  t.start(o);
  t.on.run({0, 1, 0, 0, false, true});
  ASSERT_TRUE(wait_until([&] { return t.h.kfd.suspended.load(); })) << t.h.output();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(t.on.code_byte(FakeHsa::get().screlease), 0xcc);
  t.on.run({0, 20, 0, 0, false, true});
  t.h.stop();
  EXPECT_EQ(t.h.report.doorbells_rung, 21u);
  EXPECT_FALSE(t.h.report.doorbell_arming.enabled);
  EXPECT_EQ(t.h.report.doorbell_arming.uprobes.removals, 0u);
  EXPECT_EQ(t.h.output().find("doorbell uprobes out while suspended"), std::string::npos);
}

// Issue 19 part 6 (experimental, off by default): the loop moves to the CPU
// of the last doorbell, and back to its old affinity when the mode ends.
TEST(OnlineDoorbell, FollowingTheSubmittingCpuMovesTheLoopThere) {
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "one CPU";
  DoorbellAuto t;
  auto o = options(5, 5);
  o.follow_submit_cpu = true;
  t.start(o);
  for (int cpu : {1, 0, 1}) {
    const auto n = t.h.kfd.resumes().size();
    t.on.run({0, 1, 0, 0, false, true, false, cpu});
    ASSERT_TRUE(wait_until([&] { return t.h.kfd.resumes().size() > n; })) << t.h.output();
  }
  const pid_t tid = t.h.kfd.ioctl_tids().back();
  cpu_set_t set;
  ASSERT_EQ(::sched_getaffinity(tid, sizeof(set), &set), 0);
  EXPECT_EQ(CPU_COUNT(&set), 1);
  EXPECT_TRUE(CPU_ISSET(1, &set)) << "on the CPU of the last doorbell";
  t.h.stop();
  EXPECT_EQ(t.h.report.loop_cpu_moves, 3u) << t.h.output();
  EXPECT_EQ(t.on.store_cpu(2), 1);
}

TEST(OnlineDoorbell, CompletionSignalStoresNeverSuspend) {
  DoorbellAuto t;
  t.start(options(10, 20));
  t.on.run({0, 50, 2'000, 0, false, false, /*completion_only=*/true});
  std::this_thread::sleep_for(50ms);
  t.h.stop();
  EXPECT_TRUE(t.h.kfd.suspends().empty()) << t.h.output();
  EXPECT_EQ(t.h.report.doorbell_other_stores, 100u);
  EXPECT_EQ(t.h.report.doorbell_wakeups, 0u);
}

TEST(OnlineDoorbell, BurstsDoNotFlapAndWakeTheLoopOnce) {
  DoorbellAuto t;
  t.start(options(50, 20));
  t.on.run({0, 150, 3'000, 0, false, true});
  ASSERT_TRUE(wait_until([&] { return !t.h.kfd.resumes().empty(); })) << t.h.output();
  std::this_thread::sleep_for(100ms);
  t.h.stop();
  std::uint64_t max_gap = 0;
  for (std::uint32_t i = 1; i < t.on.submits(); ++i)
    max_gap = std::max(max_gap, t.on.submit_ns(i) - t.on.submit_ns(i - 1));
  if (max_gap >= 40'000'000u) GTEST_SKIP() << "the synthetic process stalled " << max_gap / 1e6 << " ms";
  EXPECT_EQ(t.h.kfd.suspends().size(), 1u) << t.h.output();
  EXPECT_EQ(t.h.kfd.resumes().size(), 1u) << t.h.output();
  EXPECT_GE(t.h.kfd.resumes()[0], t.on.submit_ns(t.on.submits() - 1) + 50'000'000u);
  // Disarmed while suspended: a handful of wake-ups at most, and the uprobes
  // out: most of the 150 stores unprobed, every one counted once either way:
  // a doorbell, trapped while being taken out (stale), or unprobed (one off
  // at most: a store between the two reads of a snapshot).
  const auto& a = t.h.report.doorbell_arming;
  EXPECT_NEAR(static_cast<double>(t.h.report.doorbells_rung + a.stale_stores + a.unprobed_submissions), 150.0, 1.0)
      << t.h.output();
  EXPECT_GT(a.unprobed_submissions, 0u) << t.h.output();
  EXPECT_LE(t.h.report.doorbell_wakeups, 3u) << t.h.output();
}

TEST(OnlineDoorbell, IdleCostsAlmostNoCpu) {
  DoorbellAuto t;
  for (int q = 1; q < kSyntheticQueues; ++q) t.h.watch(t.on, q);
  t.start(options(10, 20, /*poll_us=*/10, /*budget=*/3.0));
  std::this_thread::sleep_for(1500ms);
  t.on.run({1, 5, 100'000, 10, false, true});
  std::this_thread::sleep_for(200ms);
  t.h.stop();
  std::printf("doorbell mode: loop CPU %.2f%% of one core over %.1f s, %llu polls\n",
              100 * t.h.report.cpu_fraction, t.h.report.wall_ns / 1e9,
              static_cast<unsigned long long>(t.h.report.polls));
  // Putting the uprobes back before each of the 5 resumes is part of it
  // (perf_event_open, the breakpoint written into the online process).
  std::printf("of which putting the uprobes back: %.2f%%\n",
              100.0 * static_cast<double>(t.h.report.doorbell_arming.uprobes.insert_cpu_ns_total) /
                  static_cast<double>(t.h.report.wall_ns));
  // The safety-net poll every 5 ms, not the 3 % budget. The poll count is the
  // exact check; the CPU fraction is a bound below the budget, not a
  // measurement: on a shared 2-core host the same loop reads 1.0-2.2 %
  // (docs/performance.md has the benchmark).
  EXPECT_LT(t.h.report.cpu_fraction, 0.03) << t.h.output();
  EXPECT_LE(t.h.report.polls, 2000u / 5 + 100) << "polled faster than the 5 ms safety net";
  EXPECT_EQ(t.h.kfd.suspends().size(), 5u) << t.h.output();
}

TEST(OnlineDoorbell, SubmissionsWithoutADoorbellAreStillCaughtByPolling) {
  // A runtime path that bypasses the exported store (ROCR's internal blits):
  // the safety-net poll sees the write id move.
  DoorbellAuto t;
  t.start(options(10, 20));
  t.on.run({0, 1, 0, 0, false, /*ring=*/false});
  ASSERT_TRUE(wait_until([&] { return t.h.kfd.suspended.load(); }, 2s)) << t.h.output();
  t.h.stop();
  EXPECT_EQ(t.h.report.detector.doorbell_suspends, 0u);
  EXPECT_EQ(t.h.report.detector.suspends, 1u);
}

TEST(OnlineDoorbell, OnlineExitResumesAndDetaches) {
  DoorbellAuto t;
  t.start(options(10, 10'000));
  t.on.run({0, 1, 0, 0, false, true});
  ASSERT_TRUE(wait_until([&] { return t.h.kfd.suspended.load(); })) << t.h.output();
  t.on.kill();
  ASSERT_TRUE(wait_until([&] { return !t.h.kfd.resumes().empty(); }, 2s)) << t.h.output();
  t.h.loop.join();
  EXPECT_EQ(t.h.rc, 0);
  EXPECT_TRUE(t.h.report.doorbell_pids.empty()) << "the exited process's probes are detached";
}

}  // namespace
}  // namespace gp::test
