// The agent's loop: one thread sleeps in ppoll on the event ring buffer, the
// doorbell uprobes' ring buffer, a pidfd per online process, the control
// socket and the stop signal; it reads the online queues' dispatch ids at
// the paced interval (online/poller.h) while there are any, and hands
// everything to AgentCore. Unlike preempt --online-pid, whose loop runs on
// its one offline target's tracer thread, this loop serves every GPU and
// every offline process, so it runs on the main thread and each SUSPEND is
// handed to its target's tracer thread (one wake-up more per suspension).
#pragma once

#include <atomic>
#include <cstdio>
#include <functional>

#include "preempt/control_server.h"
#include "agent/core.h"
#include "attach/doorbell_probe.h"
#include "tracing/event_source.h"

namespace gp {

struct AgentLoopOptions {
  int poll_us = 100;             // the pointer reads' fastest interval (preempt --online-pid's defaults)
  double cpu_budget_pct = 3.0;   // ... and their CPU budget
  int refresh_ms = 100;          // housekeeping while online processes are watched
  int idle_refresh_ms = 1000;    // ... and while none is
  int doorbell_poll_ms = 5;      // the pointer reads' floor while every online process has a doorbell probe
  DoorbellProbe* doorbell = nullptr;  // not owned; null: polling only (--no-doorbell, --read-only)
  ControlServer* server = nullptr;    // not owned; null: no --socket
  std::function<std::vector<pid_t>()> kfd_pids;  // the KFD processes now (after a loss)
  const std::atomic<bool>* stop = nullptr;     // tests: ends the loop like a stop signal
};

// Runs until a stop signal (or opts.stop). Returns the exit code. Does not
// call core.finish(): the caller does, while the event source still exists.
int run_agent_loop(AgentCore& core, EventSource& src, const AgentLoopOptions& opts, std::FILE* out);

}  // namespace gp
