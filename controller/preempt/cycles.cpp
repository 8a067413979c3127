#include "preempt/cycles.h"

#include <poll.h>

#include <algorithm>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/stop_signal.h"
#include "trace/event.h"

namespace gp {

namespace {

constexpr int kCyclesPollMs = 100;  // stop signals are noticed within this

struct IterationTotals {
  std::size_t requested = 0, done = 0;
  std::uint64_t ioctl_ns = 0;   // the slowest target's ioctl (they run in parallel)
  std::uint64_t kernel_ns = 0;  // in-kernel preemption time, all targets
  std::size_t kernel_spans = 0;
  bool issued = false, failed = false;
};

IterationTotals totals(const std::vector<TargetOp>& ops, const PreemptController& ctl, bool resume) {
  IterationTotals t;
  for (const auto& op : ops) {
    const auto& r = op.report;
    t.requested += r.entries.size();
    t.done += r.count(QueueOutcome::Done);
    if (r.issued) {
      t.issued = true;
      t.ioctl_ns = std::max(t.ioctl_ns, r.ioctl_ns());
      for (const auto& s : ctl.spans(op.tgid, resume, r.start_ns, r.end_ns)) {
        t.kernel_ns += s.total_ns;
        ++t.kernel_spans;
      }
    }
    if (!r.ok()) t.failed = true;
  }
  return t;
}

std::string us_with_kernel(const IterationTotals& t) {
  auto s = fmt::format("{:5.0f} us", static_cast<double>(t.ioctl_ns) / 1e3);
  if (t.kernel_spans) s += fmt::format(" (kernel {:.0f} us)", static_cast<double>(t.kernel_ns) / 1e3);
  return s;
}

void print_failures(std::FILE* out, const char* what, const std::vector<TargetOp>& ops) {
  for (const auto& op : ops) {
    const auto& r = op.report;
    if (r.ok()) continue;
    std::string why = !r.refused.empty() ? r.refused
                      : r.ret < 0        ? fmt::format("ioctl failed: {}", errno_name(r.ret))
                                         : describe_failures(r);
    fmt::print(out, "      pid {} {}: {}\n", op.tgid, what, why);
  }
  for (const auto& op : ops)
    if (!op.report.map_missed.empty())
      fmt::print(out, "      pid {}: the kernel listed queue(s) {} before the map did; suspended them too\n",
                 op.tgid, fmt::join(op.report.map_missed, ","));
}

void print_notes(PreemptController& ctl, std::FILE* out) {
  for (const auto& n : ctl.take_notes()) fmt::print(out, "      {}\n", n);
}

}  // namespace

void pump_until(EventSource& src, PreemptController& ctl, std::uint64_t deadline_ns, std::FILE* out) {
  for (;;) {
    src.pump();
    print_notes(ctl, out);
    std::uint64_t now = monotonic_ns();
    if (now >= deadline_ns || stop_requested() || ctl.all_gone()) return;
    auto left_ms = static_cast<int>((deadline_ns - now + 999'999) / 1'000'000);
    int timeout = std::min(left_ms, kCyclesPollMs);
    if (src.ready_fd() >= 0) {
      pollfd p{src.ready_fd(), POLLIN, 0};
      ::poll(&p, 1, timeout);
    } else {
      ::poll(nullptr, 0, timeout);
    }
  }
}

int run_cycles(PreemptController& ctl, EventSource& src, const CyclesOptions& o, std::FILE* out) {
  LatencyStats suspend_us, resume_us, suspend_kernel, resume_kernel;
  int succeeded = 0, failed = 0, idle = 0, ran = 0;
  std::size_t queues_suspended = 0, queues_resumed = 0;

  for (int i = 1; i <= o.cycles; ++i) {
    src.pump();
    print_notes(ctl, out);
    if (stop_requested() || ctl.all_gone()) break;
    ++ran;

    auto sus = ctl.suspend_all(src.map(), {SuspendTrigger::Cycles, 0});
    const std::uint64_t held_from = monotonic_ns();
    pump_until(src, ctl, held_from + static_cast<std::uint64_t>(o.hold_ms) * 1'000'000, out);
    const std::uint64_t held_to = monotonic_ns();
    auto res = ctl.resume_all();  // also when a signal cut the hold short
    // The offline job's turn; the kernel-side events of this cycle arrive meanwhile.
    if (!stop_requested() && !ctl.all_gone())
      pump_until(src, ctl, monotonic_ns() + static_cast<std::uint64_t>(o.gap_ms) * 1'000'000, out);
    else
      src.pump();

    auto s = totals(sus, ctl, false);
    auto r = totals(res, ctl, true);
    queues_suspended += s.done;
    queues_resumed += r.done;
    if (!s.issued && !s.failed) {
      ++idle;
      fmt::print(out, "[{:3}] no queues to suspend (neither the map nor KFD lists any for the target(s))\n", i);
    } else {
      bool ok = !s.failed && !r.failed;
      ok ? ++succeeded : ++failed;
      if (s.issued) suspend_us.add(s.ioctl_ns);
      if (r.issued) resume_us.add(r.ioctl_ns);
      if (s.kernel_spans) suspend_kernel.add(s.kernel_ns);
      if (r.kernel_spans) resume_kernel.add(r.kernel_ns);
      fmt::print(out, "[{:3}] Suspend: {} | Hold: {:4.0f} ms | Resume: {} | queues {}/{} suspended, {}/{} resumed{}\n",
                 i, us_with_kernel(s), static_cast<double>(held_to - held_from) / 1e6, us_with_kernel(r),
                 s.done, s.requested, r.done, r.requested, ok ? "" : "  FAILED");
      print_failures(out, "suspend", sus);
      print_failures(out, "resume", res);
    }
    std::fflush(out);
  }
  print_notes(ctl, out);

  fmt::print(out, "--- preempt: {} iteration(s) of {} over {} target(s){} ---\n", ran, o.cycles,
             ctl.targets().size(), stop_requested() ? fmt::format(", stopped by signal {}", stop_signal()) : "");
  int counted = succeeded + failed;
  fmt::print(out, "succeeded {}, failed {}, without queues {}: success rate {}\n", succeeded, failed, idle,
             counted ? fmt::format("{:.1f}%", 100.0 * succeeded / counted) : std::string("n/a"));
  fmt::print(out, "suspend ioctl: {}\n", format_summary(suspend_us.summary()));
  if (!suspend_kernel.empty()) fmt::print(out, "  in kernel:   {}\n", format_summary(suspend_kernel.summary()));
  fmt::print(out, "resume ioctl:  {}\n", format_summary(resume_us.summary()));
  if (!resume_kernel.empty()) fmt::print(out, "  in kernel:   {}\n", format_summary(resume_kernel.summary()));
  fmt::print(out, "queues: {} suspended, {} resumed\n", queues_suspended, queues_resumed);
  for (const auto& t : ctl.targets()) {
    auto c = t->counters();
    const auto& s = c.session;
    fmt::print(out,
               "pid {}: {} invalid and {} error entries, {} snapshot(s), {} queue(s) the map had "
               "not listed yet; while suspended {} new queue(s) suspended (gap {}), {} failed, {} "
               "resumed for a destroy, {} suspended again after their destroy failed; {} error entries "
               "held as possibly suspended; runtime handshakes {} enable / {} disable; {} signal(s) "
               "forwarded, {} group stop(s)\n",
               t->tgid(), s.invalid_entries, s.error_entries, s.snapshots, s.map_missed,
               s.new_while_suspended, format_summary(s.new_queue_gap.summary()),
               s.new_suspend_failed, s.resumed_for_destroy, s.resuspended_after_failed_destroy,
               s.possibly_suspended, s.runtime_enables, s.runtime_disables, c.tracer.signals_forwarded,
               c.tracer.group_stops);
  }
  std::fflush(out);
  return failed ? 1 : 0;
}

}  // namespace gp
