// preempt --online-pid: automatic mode. The offline targets are suspended as
// soon as an online process has GPU work pending and resumed once every
// online process has been idle for --idle-ms (after at least --min-hold-ms).
// One thread does everything: the first offline target's tracer thread (so
// the SUSPEND it decides needs no hop to another thread), or the caller's
// where targets have none (unit tests). It sleeps in ppoll on the event
// source, the doorbell uprobes' ring buffer (controller/attach/doorbell_probe.h), the online
// processes' pidfds and the tracer's own fds for the paced interval, reads the
// online queues' dispatch ids (controller/online/poller.h), feeds both to the detector
// (controller/online/detector.h) and carries out its decisions on the controller. With a
// doorbell probe on every online process, polling is only the safety net and
// slows to doorbell_poll_ms.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdio>
#include <vector>

#include "attach/doorbell_probe.h"
#include "online/detector.h"
#include "online/doorbell_arming.h"
#include "preempt/controller.h"
#include "preempt/serve.h"

namespace gp {

struct AutoOptions {
  std::vector<pid_t> online;
  int idle_ms = 20;
  int min_hold_ms = 50;
  int poll_us = 100;
  double cpu_budget_pct = 3.0;
  // Where to serve claims when the pointers cannot be read; no socket path:
  // stop with an error instead.
  ServeOptions fallback;
  int refresh_ms = 100;  // re-read the map's online queues at least this often
  // The doorbell uprobes (not owned); nullptr: polling only (--no-doorbell,
  // or they could not load).
  DoorbellProbe* doorbell = nullptr;
  int doorbell_poll_ms = 5;  // the poll interval's floor while every online process has a probe
  bool doorbell_disarm = true;  // uprobes out while every offline target is suspended (online/doorbell_arming.h)
  bool follow_submit_cpu = false;  // experimental: the loop on the last doorbell's CPU (online/cpu_follow.h)
  int rt_priority = 0;       // --rt-priority: SCHED_FIFO priority of the loop thread (0: normal)
  int idle_latency_us = -1;  // --idle-latency-us: PM QoS bound on idle CPUs' exit latency (-1: none)
  const std::atomic<bool>* stop = nullptr;  // tests: ends the loop like a stop signal
};

struct AutoReport {
  DetectorStats detector;
  std::uint64_t wall_ns = 0;
  std::uint64_t suspended_ns = 0;
  double cpu_fraction = 0;  // the loop thread's CPU time / wall time
  std::uint64_t polls = 0;
  std::uint64_t interval_ns = 0, interval_min_ns = 0, interval_max_ns = 0;
  LatencyStats suspend_ioctl, resume_ioctl;
  std::vector<std::uint64_t> suspend_at_ns;  // monotonic time of each suspend decision
  std::vector<std::uint64_t> resume_at_ns;
  bool fell_back = false;
  int fallback_errno = 0;
  std::vector<pid_t> procmem_pids;  // read through /proc/PID/mem
  std::vector<pid_t> doorbell_pids;  // online processes with a doorbell probe at the end
  std::uint64_t doorbell_wakeups = 0;  // ring-buffer records drained
  std::uint64_t doorbells_rung = 0;    // doorbell stores the uprobes saw
  std::uint64_t doorbell_other_stores = 0;  // stores to other signals, ignored
  DoorbellArmingReport doorbell_arming;     // probed / unprobed stores, the uprobes' removals and insertions
  std::uint64_t loop_cpu_moves = 0;         // follow_submit_cpu: times the loop moved to a doorbell's CPU
  pid_t loop_tid = 0;  // the thread the loop ran on (the first target's tracer thread)
};

// Returns the exit code. Resumes before returning, whatever ends the loop.
int run_auto(PreemptController& ctl, EventSource& src, const AutoOptions& opts, std::FILE* out,
             AutoReport* report = nullptr);

}  // namespace gp
