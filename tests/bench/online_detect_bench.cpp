// Detection latency and CPU cost of preempt --online-pid, natively, without a
// GPU (the harness of tests/native/online_auto_harness.h: a synthetic online
// process advancing AQL-like dispatch ids in its own memory, the production
// loop reading them with process_vm_readv, a real ptraced offline child, the
// KFD ioctls stubbed and timestamped).
//
//   online_detect_bench [seconds-per-row=8]
//
// Each row: submissions 30-50 ms apart (so each one finds the offline job
// running again: idle 5 ms, hold 5 ms), for the given --poll-us and
// --cpu-budget. Latency = the synthetic process's submission timestamp ->
// the SUSPEND ioctl entry on the tracer thread, split at the loop's decision.
// Not a test: it asserts nothing, it reports.
#include <cstdio>
#include <cstdlib>
#include <random>

#include <fmt/format.h>

#include "online_auto_harness.h"

namespace {

using gp::test::AutoHarness;
using gp::test::SyntheticOnline;

struct Row {
  int poll_us;
  double budget_pct;
};

double pctl_us(std::vector<std::uint64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return static_cast<double>(v[std::min(i, v.size() - 1)]) / 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 8.0;
  const Row rows[] = {{100, 3.0}, {50, 3.0}, {20, 10.0}, {10, 100.0}};
  std::mt19937 rng(42);

  fmt::print("preempt --online-pid detection, {:.0f} s per row, submissions 30-50 ms apart, 1 online queue\n",
             seconds);
  fmt::print("{:>8} {:>8} | {:>6} | {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} | {:>9} | {:>7} {:>13}\n", "poll_us",
             "budget", "n", "p50 us", "p99 us", "p99.9 us", "max us", "det p50", "det p99", "ioctl p99", "CPU",
             "interval us");
  for (const auto& row : rows) {
    SyntheticOnline on;
    auto h = std::make_unique<AutoHarness>();
    h->watch(on, 0);
    gp::AutoOptions o;
    o.online = {on.pid()};
    o.idle_ms = 5;
    o.min_hold_ms = 5;
    o.poll_us = row.poll_us;
    o.cpu_budget_pct = row.budget_pct;
    h->start(o);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));

    std::uniform_int_distribution<int> gap(30'000, 50'000);
    const std::uint64_t end = gp::test::mono_ns() + static_cast<std::uint64_t>(seconds * 1e9);
    while (gp::test::mono_ns() < end) {
      on.run({0, 1, 0, 20, false});
      std::this_thread::sleep_for(std::chrono::microseconds(gap(rng)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
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
    fmt::print("{:>8} {:>7.0f}% | {:>6} | {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f} | {:>9.1f} {:>9.1f} | {:>9.1f} | {:>6.2f}% "
               "{:>6.0f}-{:<6.0f}\n",
               row.poll_us, row.budget_pct, total.size(), pctl_us(total, 50), pctl_us(total, 99),
               pctl_us(total, 99.9), pctl_us(total, 100), pctl_us(decided, 50), pctl_us(decided, 99),
               pctl_us(to_ioctl, 99), 100 * h->report.cpu_fraction, h->report.interval_min_ns / 1e3,
               h->report.interval_max_ns / 1e3);
    std::fflush(stdout);
  }
  fmt::print("p50/p99/p99.9/max: submission -> SUSPEND ioctl entry; det: submission -> the loop's decision; "
             "ioctl: decision -> ioctl entry (tracer thread hop); CPU: the loop thread's, of one core\n");
  return 0;
}
