// Detection latency and CPU cost of preempt --online-pid, natively, without a
// GPU (the harness of tests/native/online_auto_harness.h: a synthetic online
// process advancing AQL-like dispatch ids in its own memory, the production
// loop reading them with process_vm_readv, a real ptraced offline child, the
// KFD ioctls stubbed and timestamped).
//
//   online_detect_bench [seconds-per-row=8] [row-label-prefix]   (e.g. "door": the doorbell rows only)
//   online_detect_bench --store-child LIB    (internal: the per-store cost's target process)
//
// Each row: submissions 30-50 ms apart (so each one finds the offline job
// running again: idle 5 ms, hold 5 ms), for the given --poll-us and
// --cpu-budget, by polling alone or with the doorbell uprobes (the synthetic
// process then rings its doorbell through a stand-in libhsa-runtime64, as
// ROCclr does). Latency = the synthetic process's submission timestamp ->
// the SUSPEND ioctl entry on the tracer thread, split at the loop's decision.
// Then this host's floor for any detector that sleeps (a thread asleep in
// ppoll woken through an eventfd: no uprobe, no BPF, no loop), and the
// doorbell uprobe's cost to the online process: one store, timed in a
// process of its own that maps only one stand-in runtime, for each prologue
// shape (5.2.3's and 6.x's), without the probe, with it, after taking it out
// and after putting it back; and a burst of 1,000 submissions while the
// offline job is suspended, with the uprobes taken out (the default) and kept
// in. Doorbell rows run with the uprobes taken out while suspended unless
// "-keep"; "+cpu" rows keep the loop on the last doorbell's CPU
// (AutoOptions::follow_submit_cpu), "+pin" pins the online process to CPU 1.
// The "store" columns are the online thread's side: the wall time of its
// hsa_signal_store_screlease call (the trap, and whatever ran on its CPU then).
// Not a test: it asserts nothing, it reports.
#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "attach/doorbell_probe.h"
#include "online_auto_harness.h"

namespace {

using gp::test::AutoHarness;
using gp::test::SyntheticOnline;

using gp::test::pctl_us;

struct Row {
  int poll_us;
  double budget_pct;
  bool doorbell;
  int rt_priority = 0;
  bool busy = false;    // every CPU kept busy by nice-19 spinners (a loaded host)
  bool keep = false;    // doorbell_disarm = false: the uprobes stay in while suspended
  bool follow = false;  // follow_submit_cpu
  bool pin = false;     // the online process pinned to CPU 1

  std::string label() const {
    if (!doorbell) return "poll";
    return fmt::format("door{}{}{}{}{}", keep ? "-keep" : "", pin ? "+pin" : "", busy ? "+busy" : "",
                       rt_priority ? "+rt" : "", follow ? "+cpu" : "");
  }
};

// nice-19 busy loops, one per CPU, for the lifetime of the object.
class Spinners {
 public:
  explicit Spinners(bool on) {
    if (!on) return;
    for (long i = 0; i < ::sysconf(_SC_NPROCESSORS_ONLN); ++i) {
      pid_t p = ::fork();
      if (p == 0) {
        [[maybe_unused]] int n = ::nice(19);
        volatile unsigned long x = 0;
        for (;;) x = x + 1;
      }
      pids_.push_back(p);
    }
  }
  ~Spinners() {
    for (pid_t p : pids_) {
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
  }

 private:
  std::vector<pid_t> pids_;
};

bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set) == 0;
}

// Write -> wake-up latencies of a thread asleep in ppoll on an eventfd, the
// waker on CPU 0 and the sleeper on `sleeper_cpu`, a wake every 5-10 ms (so
// the sleeper's CPU goes idle in between, as it does between submissions).
std::vector<std::uint64_t> wake_latencies(int sleeper_cpu, int n, std::mt19937& rng) {
  const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::atomic<std::uint64_t> written{0};
  std::atomic<bool> stop{false};
  std::vector<std::uint64_t> out;
  std::thread sleeper([&] {
    pin(sleeper_cpu);
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    while (!stop) {
      pollfd p{efd, POLLIN, 0};
      timespec ts{0, 100'000'000};
      if (::ppoll(&p, 1, &ts, nullptr) <= 0) continue;
      const std::uint64_t now = gp::test::mono_ns();
      std::uint64_t v;
      [[maybe_unused]] auto r = ::read(efd, &v, sizeof(v));
      out.push_back(now - written.load());
    }
  });
  cpu_set_t before;
  ::pthread_getaffinity_np(::pthread_self(), sizeof(before), &before);
  pin(0);
  std::uniform_int_distribution<int> gap(5'000, 10'000);
  for (int i = 0; i < n; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(gap(rng)));
    written = gp::test::mono_ns();
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(efd, &one, sizeof(one));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop = true;
  sleeper.join();
  ::close(efd);
  ::pthread_setaffinity_np(::pthread_self(), sizeof(before), &before);
  return out;
}

void wake_floor(std::mt19937& rng) {
  constexpr int kN = 400;
  fmt::print("wake-up floor of this host (a thread asleep in ppoll, woken by an eventfd write; no uprobe, no BPF; "
             "{} wakes 5-10 ms apart):\n",
             kN);
  const bool two = ::sysconf(_SC_NPROCESSORS_ONLN) > 1;
  for (int cpu : two ? std::vector<int>{1, 0} : std::vector<int>{0}) {
    auto l = wake_latencies(cpu, kN, rng);
    fmt::print("  {:<15} p50 {:6.1f}  p99 {:6.1f}  max {:7.1f} us (n={})\n", cpu ? "other, idle CPU" : "same CPU",
               pctl_us(l, 50), pctl_us(l, 99), pctl_us(l, 100), l.size());
  }
}

// --store-child LIB: dlopens LIB (nothing else of ROCm is mapped, so the probe
// attaches to that one), then for each "go" on stdin stores to a doorbell
// signal for ~budget ms and answers ns per store and the count.
int store_child(const char* lib) {
  void* so = ::dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (!so) return 1;
  auto st = reinterpret_cast<gp::test::HsaSignalStore>(::dlsym(so, "hsa_signal_store_screlease"));
  if (!st) return 1;
  std::uint64_t word = 0;
  gp::test::FakeAmdSignal sig;
  sig.kind = gp::test::kSignalKindDoorbell;
  sig.value_or_doorbell_ptr = reinterpret_cast<std::uint64_t>(&word);
  std::uint64_t budget_ms = 0;
  while (::read(0, &budget_ms, sizeof budget_ms) == sizeof budget_ms) {
    const auto t0 = gp::test::mono_ns(), until = t0 + budget_ms * 1'000'000;
    std::uint64_t n = 0;
    do {
      for (int i = 0; i < 64; ++i) st(reinterpret_cast<std::uint64_t>(&sig), static_cast<std::int64_t>(n + i));
      n += 64;
    } while (gp::test::mono_ns() < until);
    const double r[2] = {static_cast<double>(gp::test::mono_ns() - t0) / static_cast<double>(n),
                         static_cast<double>(n)};
    if (::write(1, r, sizeof r) != sizeof r) return 1;
  }
  return 0;
}

class StoreChild {
 public:
  explicit StoreChild(const char* lib) {
    int in[2], out[2];
    if (::pipe(in) || ::pipe(out)) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    char self[] = "/proc/self/exe", flag[] = "--store-child";
    std::string l = lib;
    char* argv[] = {self, flag, l.data(), nullptr};
    if (::posix_spawn(&pid_, self, &fa, nullptr, argv, environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // exec'd and dlopened
  }
  ~StoreChild() {
    ::close(to_);
    ::close(from_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // {ns per store, stores}
  std::pair<double, double> measure(std::uint64_t budget_ms) {
    double r[2] = {0, 0};
    if (::write(to_, &budget_ms, sizeof budget_ms) != sizeof budget_ms || ::read(from_, r, sizeof r) != sizeof r)
      return {0, 0};
    return {r[0], r[1]};
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
};

void uprobe_cost(const char* shape, const char* lib) {
  std::string why;
  auto probe = gp::DoorbellProbe::load(nullptr, &why);
  if (!probe) {
    fmt::print("doorbell uprobe cost ({}): not measured ({})\n", shape, why);
    return;
  }
  StoreChild child(lib);
  child.measure(50);  // warm
  const auto without = child.measure(300);
  if (auto e = probe->attach(child.pid()); !e.empty()) {
    fmt::print("doorbell uprobe cost ({}): not measured ({})\n", shape, e);
    return;
  }
  child.measure(50);
  const auto with = child.measure(1000);
  const auto t0 = gp::test::mono_ns();
  probe->remove_uprobes();
  while (probe->removals_pending()) std::this_thread::sleep_for(std::chrono::microseconds(200));
  const double removal_ms = static_cast<double>(gp::test::mono_ns() - t0) / 1e6;
  const auto out = child.measure(300);
  const auto t1 = gp::test::mono_ns();
  probe->insert_uprobes();
  const double insert_ms = static_cast<double>(gp::test::mono_ns() - t1) / 1e6;
  const auto back = child.measure(1000);
  fmt::print("doorbell uprobe cost, {}: {:.0f} ns per store without the probe, {:.0f} ns with it (+{:.0f} ns: the "
             "trap, the BPF program, the return; {:.0f} stores), {:.0f} ns with it taken out, {:.0f} ns put back; "
             "taking out took {:.1f} ms (helper thread, until its links were gone), putting back {:.2f} ms\n",
             shape, without.first, with.first, with.first - without.first, with.second, out.first, back.first,
             removal_ms, insert_ms);
  std::fflush(stdout);
}

// A burst of 1,000 submissions while the offline job is suspended: how many
// of its stores were probed (the breakpoint was on the store function when
// the online thread called it: it reads the first byte just before), how
// many the BPF program counted, and how many took the online thread over
// 2 us (a trap, or its CPU taken away), with the uprobes taken out (the
// default) and kept in; "at once": the burst starts as soon as the (fake,
// instant) SUSPEND ioctl was entered, "after": once the breakpoint has left
// the online process's code.
void burst_while_suspended() {
  constexpr std::uint32_t kBurst = 1000;
  const auto& hsa = gp::test::FakeHsa::get();
  using Links = gp::DoorbellProbe::Links;
  for (Links links : {Links::Best, Links::PerfEvent})
  for (bool keep : {false, true})
    for (bool at_once : {true, false}) {
      if (keep && (!at_once || links != Links::Best)) continue;
      std::string why;
      auto probe = gp::DoorbellProbe::load(nullptr, &why, links);
      if (!probe) return;
      const char* kind = keep ? "kept in"
                         : probe->arming_stats().uprobe_multi ? "out (uprobe_multi)"
                                                              : "out (perf-event links)";
      SyntheticOnline on;
      auto h = std::make_unique<AutoHarness>();
      h->watch(on, 0);
      auto o = gp::test::options(50, 3'000);
      o.online = {on.pid()};
      o.doorbell = probe.get();
      o.doorbell_disarm = !keep;
      h->start(o);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      on.run({0, 1, 0, 0, false, true});
      const auto s0 = gp::test::mono_ns();
      while (!h->kfd.suspended.load() && gp::test::mono_ns() - s0 < 2'000'000'000ull)
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      const auto suspended_at = gp::test::mono_ns();
      double gone_ms = -1;
      if (!at_once) {
        while (on.code_byte(hsa.screlease) == 0xcc && gp::test::mono_ns() - suspended_at < 2'000'000'000ull)
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        gone_ms = static_cast<double>(gp::test::mono_ns() - suspended_at) / 1e6;
      }
      auto probed = [&] {
        const auto c = probe->counts(on.pid());
        return c.doorbells + c.other + c.stale;  // every run of the BPF program: a trapped store
      };
      const auto before = probed();
      const auto b0 = gp::test::mono_ns();
      on.run({0, kBurst, 0, 0, false, true});
      const double burst_ms = static_cast<double>(gp::test::mono_ns() - b0) / 1e6;
      const auto counted = probed() - before;
      std::uint32_t with_bp = 0, slow = 0;
      for (std::uint32_t i = 1; i <= kBurst; ++i) {
        with_bp += on.store_probed(i);
        slow += on.store_ns(i) > 2'000;
      }
      h->stop();
      fmt::print("  uprobes {:<22} burst {:<6}: {:4} of {} stores probed, {:4} counted by BPF, {:4} slower than 2 us; "
                 "burst took {:.1f} ms{}\n",
                 kind, at_once ? "at once" : "after", with_bp, kBurst, counted, slow,
                 burst_ms,
                 gone_ms >= 0 ? fmt::format(" (it started {:.1f} ms after the suspension, when the breakpoint was gone)",
                                            gone_ms)
                              : "");
      std::fflush(stdout);
    }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && std::string_view(argv[1]) == "--store-child") return store_child(argv[2]);
  const double seconds = argc > 1 ? std::atof(argv[1]) : 8.0;
  const std::string only = argc > 2 ? argv[2] : "";
  // poll_us, budget, doorbell, rt, busy, keep, follow, pin
  const Row rows[] = {{100, 3.0, false},
                      {50, 3.0, false},
                      {20, 10.0, false},
                      {10, 100.0, false},
                      {100, 3.0, true},
                      {100, 3.0, true, 0, false, /*keep=*/true},
                      {100, 3.0, true, 50},
                      {100, 3.0, true, 0, true},
                      {100, 3.0, true, 50, true},
                      {100, 3.0, true, 0, false, false, /*follow=*/true},
                      {100, 3.0, true, 50, false, false, true},
                      {100, 3.0, true, 0, true, false, true},
                      {100, 3.0, true, 50, true, false, true},
                      {100, 3.0, true, 0, false, false, false, /*pin=*/true},
                      {100, 3.0, true, 0, false, false, true, true}};
  std::mt19937 rng(42);
  const bool two = ::sysconf(_SC_NPROCESSORS_ONLN) > 1;

  fmt::print("preempt --online-pid detection, {:.0f} s per row, submissions 30-50 ms apart, 1 online queue\n",
             seconds);
  std::unique_ptr<gp::DoorbellProbe> probe;
  fmt::print("{:>18} {:>7} {:>6} | {:>5} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} | {:>8} | {:>6} {:>11} | {:>7} {:>7} "
             "| {}\n",
             "detect", "poll_us", "budget", "n", "p50 us", "p99 us", "p99.9 us", "max us", "det p50", "det p99",
             "ioctl p99", "CPU", "interval us", "store50", "store99", "doorbell");
  for (const auto& row : rows) {
    const std::string label = row.label();
    if (!label.starts_with(only)) continue;
    if (row.pin && !two) continue;
    SyntheticOnline on;
    auto h = std::make_unique<AutoHarness>();
    std::unique_ptr<Spinners> spin;
    h->watch(on, 0);
    gp::AutoOptions o;
    o.online = {on.pid()};
    o.idle_ms = 5;
    o.min_hold_ms = 5;
    o.poll_us = row.poll_us;
    o.cpu_budget_pct = row.budget_pct;
    o.rt_priority = row.rt_priority;
    o.doorbell_disarm = !row.keep;
    o.follow_submit_cpu = row.follow;
    if (row.doorbell) {
      std::string why;
      probe = gp::DoorbellProbe::load(nullptr, &why);
      if (!probe) {
        fmt::print("doorbell row skipped: {}\n", why);
        continue;
      }
      o.doorbell = probe.get();
    }
    h->start(o);
    spin = std::make_unique<Spinners>(row.busy);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));

    std::uniform_int_distribution<int> gap(30'000, 50'000);
    const std::uint64_t end = gp::test::mono_ns() + static_cast<std::uint64_t>(seconds * 1e9);
    while (gp::test::mono_ns() < end) {
      gp::test::SubmitPattern p{0, 1, 0, 20, false, row.doorbell};
      if (row.pin) p.cpu = 1;
      on.run(p);
      std::this_thread::sleep_for(std::chrono::microseconds(gap(rng)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    spin.reset();
    h->stop();

    // Only submissions that found the offline job running (no suspension
    // before them, or the last one already resumed) have a detection
    // latency; one made while it was still suspended (a suspension that
    // lasted past the next submission, e.g. a resume waiting for the uprobes
    // to be put back) is counted apart, not paired with a later suspension.
    const auto kfd_sus = h->kfd.suspends(), kfd_res = h->kfd.resumes();
    auto running_at = [&](std::uint64_t t) {
      std::uint64_t last = 0;
      for (auto k : kfd_sus)
        if (k < t) last = k;
      if (!last) return true;
      for (auto r : kfd_res)
        if (r > last && r < t) return true;
      return false;
    };
    std::vector<std::uint64_t> submits, stores;
    std::size_t in_suspension = 0;
    for (std::uint32_t i = 0; i < on.submits(); ++i) {
      if (row.doorbell) stores.push_back(on.store_ns(i));
      if (running_at(on.submit_ns(i)))
        submits.push_back(on.submit_ns(i));
      else
        ++in_suspension;
    }
    auto total = gp::test::detection_latencies(submits, h->kfd.suspends());
    auto decided = gp::test::detection_latencies(submits, h->report.suspend_at_ns);
    std::vector<std::uint64_t> to_ioctl;
    auto sus = h->kfd.suspends();
    for (auto d : h->report.suspend_at_ns)
      for (auto k : sus)
        if (k >= d) {
          to_ioctl.push_back(k - d);
          break;
        }
    const auto& exact = h->report.detector.detection_doorbell;
    const auto& arm = h->report.doorbell_arming;
    std::string door = fmt::format("{} made while suspended", in_suspension);
    if (!exact.empty())
      door += fmt::format("; store->decision p50 {:.1f} p99 {:.1f} us (n={})", exact.percentile_us(50),
                         exact.percentile_us(99), exact.count());
    if (arm.enabled && arm.uprobes.insertions)
      door += fmt::format("; out/in {}/{}, put back {:.2f} ms mean {:.2f} max ({:.3f} ms CPU each); probed "
                          "{} (stale {}), unprobed {}",
                          arm.uprobes.removals, arm.uprobes.insertions,
                          static_cast<double>(arm.uprobes.insert_ns_total) / arm.uprobes.insertions / 1e6,
                          static_cast<double>(arm.uprobes.insert_ns_max) / 1e6,
                          static_cast<double>(arm.uprobes.insert_cpu_ns_total) / arm.uprobes.insertions / 1e6,
                          arm.probed_stores, arm.stale_stores, arm.unprobed_submissions);
    if (row.follow) door += fmt::format("; loop moved {} times", h->report.loop_cpu_moves);
    fmt::print("{:>18} {:>7} {:>5.0f}% | {:>5} | {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f} | {:>8.1f} {:>8.1f} | {:>8.1f} | "
               "{:>5.2f}% {:>5.0f}-{:<5.0f} | {:>7.1f} {:>7.1f} | {}\n",
               label, row.poll_us, row.budget_pct, total.size(), pctl_us(total, 50), pctl_us(total, 99),
               pctl_us(total, 99.9), pctl_us(total, 100), pctl_us(decided, 50), pctl_us(decided, 99),
               pctl_us(to_ioctl, 99), 100 * h->report.cpu_fraction, h->report.interval_min_ns / 1e3,
               h->report.interval_max_ns / 1e3, stores.empty() ? 0.0 : pctl_us(stores, 50),
               stores.empty() ? 0.0 : pctl_us(stores, 99), door);
    std::fflush(stdout);
    h.reset();
    probe.reset();
  }
  fmt::print("detect: poll = polling only; door = doorbell uprobes, taken out while suspended (-keep: kept in; "
             "+pin: online process on CPU 1; +busy: every CPU running a nice-19 spinner; +rt: --rt-priority 50; "
             "+cpu: the loop follows the doorbell's CPU)\n");
  fmt::print("n: submissions that found the offline job running (those made while it was still suspended are counted in the last column); p50/p99/p99.9/max: submission -> SUSPEND ioctl entry; det: "
             "submission -> the loop's decision; ioctl: decision -> ioctl entry (same thread: the loop runs on the "
             "target's tracer thread); CPU: the loop thread's, of one core; store50/99: the online thread's store "
             "call, us\n");
  if (std::string_view("floor").starts_with(only)) wake_floor(rng);
  if (std::string_view("cost").starts_with(only)) {
#ifdef GP_FAKE_HSA_523_LIB
    uprobe_cost("5.2.3 shape (mov rax,[rip+x]; jmp [rax+0x160])", GP_FAKE_HSA_523_LIB);
#endif
    uprobe_cost("6.x shape (endbr64; mov rax,[rip+x]; jmp [rax+0x160])", GP_FAKE_HSA_LIB);
  }
  if (std::string_view("burst").starts_with(only)) {
    fmt::print("a burst of 1,000 submissions while the offline job is suspended (probed: the breakpoint was in at the "
               "call; slow: the store call took > 2 us):\n");
    burst_while_suspended();
  }
  return 0;
}
