// Detection latency and CPU cost of preempt --online-pid, natively, without a
// GPU (the harness of tests/native/online_auto_harness.h: a synthetic online
// process advancing AQL-like dispatch ids in its own memory, the production
// loop reading them with process_vm_readv, a real ptraced offline child, the
// KFD ioctls stubbed and timestamped).
//
//   online_detect_bench [seconds-per-row=8] [row-label-prefix]   (e.g. "door": the doorbell rows only)
//
// Each row: submissions 30-50 ms apart (so each one finds the offline job
// running again: idle 5 ms, hold 5 ms), for the given --poll-us and
// --cpu-budget, by polling alone or with the doorbell uprobes (the synthetic
// process then rings its doorbell through a stand-in libhsa-runtime64, as
// ROCclr does). Latency = the synthetic process's submission timestamp ->
// the SUSPEND ioctl entry on the tracer thread, split at the loop's decision.
// Then this host's floor for any detector that sleeps (a thread asleep in
// ppoll woken through an eventfd: no uprobe, no BPF, no loop), and the
// doorbell uprobe's cost to the online process: one store, timed in this
// process without and with the probe attached to it.
// Not a test: it asserts nothing, it reports.
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
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
  bool busy = false;  // every CPU kept busy by nice-19 spinners (a loaded host)
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

// ns per hsa_signal_store_screlease to a doorbell signal, in this process.
double store_ns(int n) {
  std::uint64_t word = 0;
  gp::test::FakeAmdSignal sig;
  sig.kind = gp::test::kSignalKindDoorbell;
  sig.value_or_doorbell_ptr = reinterpret_cast<std::uint64_t>(&word);
  const auto& hsa = gp::test::FakeHsa::get();
  const auto t0 = gp::test::mono_ns();
  for (int i = 0; i < n; ++i) hsa.screlease(reinterpret_cast<std::uint64_t>(&sig), i);
  return static_cast<double>(gp::test::mono_ns() - t0) / n;
}

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

void uprobe_cost() {
  std::string why;
  auto probe = gp::DoorbellProbe::load(nullptr, &why);
  if (!probe) {
    fmt::print("doorbell uprobe cost: not measured ({})\n", why);
    return;
  }
  constexpr int kN = 200'000;
  store_ns(kN / 10);  // warm
  const double without = store_ns(kN);
  if (auto e = probe->attach(::getpid()); !e.empty()) {
    fmt::print("doorbell uprobe cost: not measured ({})\n", e);
    return;
  }
  store_ns(kN / 10);
  const double with = store_ns(kN);
  fmt::print("doorbell uprobe cost to the online process: {:.0f} ns per store without the probe, {:.0f} ns with "
             "it (+{:.0f} ns: the trap, the BPF program, the return), {} stores\n",
             without, with, with - without, kN);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 8.0;
  const std::string only = argc > 2 ? argv[2] : "";
  const Row rows[] = {{100, 3.0, false},    {50, 3.0, false},          {20, 10.0, false},
                      {10, 100.0, false},   {100, 3.0, true},          {100, 3.0, true, 50},      {100, 3.0, true, 0, true},
                      {100, 3.0, true, 50, true}};
  std::mt19937 rng(42);

  fmt::print("preempt --online-pid detection, {:.0f} s per row, submissions 30-50 ms apart, 1 online queue\n",
             seconds);
  std::unique_ptr<gp::DoorbellProbe> probe;
  fmt::print("{:>14} {:>8} {:>8} | {:>6} | {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} | {:>9} | {:>7} {:>13}\n", "detect", "poll_us",
             "budget", "n", "p50 us", "p99 us", "p99.9 us", "max us", "det p50", "det p99", "ioctl p99", "CPU",
             "interval us");
  for (const auto& row : rows) {
    const std::string label =
        row.doorbell ? fmt::format("door{}{}", row.busy ? "+busy" : "", row.rt_priority ? "+rt" : "") : "poll";
    if (!label.starts_with(only)) continue;
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
      on.run({0, 1, 0, 20, false, row.doorbell});
      std::this_thread::sleep_for(std::chrono::microseconds(gap(rng)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    spin.reset();
    h->stop();

    std::vector<std::uint64_t> submits;
    for (std::uint32_t i = 0; i < on.submits(); ++i) submits.push_back(on.submit_ns(i));
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
    fmt::print("{:>14} {:>8} {:>7.0f}% | {:>6} | {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f} | {:>9.1f} {:>9.1f} | {:>9.1f} | "
               "{:>6.2f}% {:>6.0f}-{:<6.0f}{}\n",
               label, row.poll_us, row.budget_pct, total.size(), pctl_us(total, 50), pctl_us(total, 99),
               pctl_us(total, 99.9), pctl_us(total, 100), pctl_us(decided, 50), pctl_us(decided, 99),
               pctl_us(to_ioctl, 99), 100 * h->report.cpu_fraction, h->report.interval_min_ns / 1e3,
               h->report.interval_max_ns / 1e3,
               exact.empty() ? std::string()
                             : fmt::format(" | store->decision p50 {:.1f} p99 {:.1f} us (n={})", exact.percentile_us(50),
                                           exact.percentile_us(99), exact.count()));
    std::fflush(stdout);
    h.reset();
    probe.reset();
  }
  fmt::print("detect: poll = polling only; door = doorbell uprobes (+busy: every CPU running a nice-19 spinner; "
             "+rt: --rt-priority 50)\n");
  fmt::print("p50/p99/p99.9/max: submission -> SUSPEND ioctl entry; det: submission -> the loop's decision; "
             "ioctl: decision -> ioctl entry (same thread: the loop runs on the target's tracer thread); "
             "CPU: the loop thread's, of one core\n");
  if (std::string_view("floor").starts_with(only)) wake_floor(rng);
  uprobe_cost();
  return 0;
}
