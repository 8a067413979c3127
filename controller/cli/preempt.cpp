// gpreempt-bpf preempt: suspend and resume an unmodified offline process's GPU
// queues through the KFD debug trap, with the qids of the exact queue map.
//
// Order matters: every read-only check (root, scheduler, debug API, each
// target) runs before anything is attached, and every acquisition after that
// is undone by a destructor, so a refusal, a signal or an internal error never
// leaves a process traced, debug-enabled or suspended.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "base/heap.h"
#include "base/host_paths.h"
#include "base/proc.h"
#include "base/stop_signal.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "kfd/client.h"
#include "metrics/map_metrics.h"
#include "online/auto_mode.h"
#include "preempt/controller.h"
#include "preempt/cycles.h"
#include "preempt/preflight.h"
#include "preempt/serve.h"
#include "tracing/session.h"

namespace gp::cli {

namespace {

struct PreemptOptions {
  std::vector<int> pids;
  CyclesOptions cycles;
  std::int64_t grace = std::numeric_limits<std::int64_t>::min();  // kDriverGrace: not given
  bool serve = false;
  ServeOptions serve_opts;
  std::string socket_mode = "0600";
  double wait_runtime_s = 0;
  std::vector<std::uint32_t> extra_qids;
  std::vector<int> online_pids;  // --online-pid: automatic mode
  bool no_doorbell = false;      // --no-doorbell: polling only
  bool keep_doorbell_uprobes = false;  // --keep-doorbell-uprobes: not taken out while suspended
  AutoOptions auto_opts;
  SessionOptions session;
  std::uint32_t ringbuf_kb = 8192;
  std::string metrics_listen;  // --metrics-listen ADDR:PORT
};

// --grace lands in the 8-bit SCH_WAVE field of CP_IQ_WAIT_TIME2, one count per
// about 1K GPU clocks (docs/kfd-internals.md §3): only the low 8 bits survive,
// and a field of 0 is the firmware's infinite grace, which the kernel itself
// avoids. So 256 (or any multiple) would program infinity, and every other value
// above 255 would wrap to something the user did not ask for.
constexpr std::int64_t kDriverGrace = std::numeric_limits<std::int64_t>::min();  // not given: the driver's

std::string grace_refusal(std::int64_t g) {
  std::string why =
      g == 0 ? "0 is an infinite grace to the firmware (the kernel raises it to 1)"
      : g < 0 ? "a grace period is not negative"
      : g % 256 == 0
          ? fmt::format("the kernel keeps only the low 8 bits, so {} would program 0, an infinite grace: the "
                        "preemption could wait until the driver's fence timeout and a GPU reset",
                        g)
          : fmt::format("the kernel keeps only the low 8 bits, so {} would program {}", g, g % 256);
  return fmt::format("--grace {}: must be {}..{} (the 8-bit SCH_WAVE field of CP_IQ_WAIT_TIME2, one count is "
                     "about 1K GPU clocks); {}. Leave it out for the driver's own value.",
                     g, kGraceMin, kGraceMax, why);
}

void validate_online(PreemptOptions& o, bool serve_given, bool cycles_given) {
  if (serve_given || cycles_given)
    throw UserError("--online-pid is the automatic mode; --serve and --cycles are other modes: choose one "
                    "(--socket PATH with --online-pid is where it falls back when it cannot read the "
                    "online process's queues)", 2);
  auto& a = o.auto_opts;
  if (a.idle_ms < 0 || a.min_hold_ms < 0) throw UserError("--idle-ms and --min-hold-ms must not be negative", 2);
  if (a.poll_us < 1 || a.poll_us > 1'000'000) throw UserError("--poll-us must be 1..1000000", 2);
  if (!(a.cpu_budget_pct > 0 && a.cpu_budget_pct <= 100))
    throw UserError("--cpu-budget is a percentage of one core: more than 0, at most 100", 2);
  for (int pid : o.online_pids) {
    if (std::find(o.pids.begin(), o.pids.end(), pid) != o.pids.end())
      throw UserError(fmt::format("pid {} is given as both --offline-pid and --online-pid", pid), 2);
    pid_t tgid = pid > 0 ? thread_group_of(pid) : 0;
    if (!tgid) throw UserError(fmt::format("--online-pid {}: no such process", pid), 2);
    if (tgid != pid) fmt::print("note: {} is a thread of process {}; watching the process\n", pid, tgid);
    if (std::find(a.online.begin(), a.online.end(), tgid) == a.online.end()) a.online.push_back(tgid);
  }
  a.fallback = o.serve_opts;
}

void validate(PreemptOptions& o, bool serve_given, bool cycles_given) {
  if (!o.online_pids.empty()) validate_online(o, serve_given, cycles_given);
  if (o.serve && cycles_given)
    throw UserError("--serve and --cycles are different modes: choose one", 2);
  if (!o.serve && o.online_pids.empty() && (!o.serve_opts.socket_path.empty() || o.serve_opts.max_hold_ms))
    throw UserError("--socket and --max-hold-ms belong to --serve (or to --online-pid, as its fallback)", 2);
  if (o.serve && o.serve_opts.socket_path.empty())
    throw UserError("--serve needs --socket PATH (the control socket to create)", 2);
  if (o.cycles.cycles < 1) throw UserError("--cycles must be at least 1", 2);
  if (o.cycles.hold_ms < 0 || o.cycles.gap_ms < 0 || o.serve_opts.max_hold_ms < 0)
    throw UserError("times must not be negative", 2);
  if (o.grace != kDriverGrace && (o.grace < kGraceMin || o.grace > kGraceMax))
    throw UserError(grace_refusal(o.grace), 2);
  if (o.wait_runtime_s < 0) throw UserError("--wait-runtime must not be negative", 2);
  try {
    std::size_t used = 0;
    unsigned long mode = std::stoul(o.socket_mode, &used, 8);
    if (used != o.socket_mode.size() || mode > 0777) throw std::invalid_argument("mode");
    o.serve_opts.socket_mode = static_cast<mode_t>(mode);
  } catch (const std::exception&) {
    throw UserError(fmt::format("--socket-mode {}: an octal mode such as 0600 or 0660", o.socket_mode), 2);
  }
  if (!o.online_pids.empty()) o.auto_opts.fallback = o.serve_opts;  // with the parsed socket mode
  (void)serve_given;
}

int run_preempt(PreemptOptions& o, bool serve_given, bool cycles_given) {
  validate(o, serve_given, cycles_given);
  finish_session_options(o.session, o.ringbuf_kb);
  // Listening first: a port in use stops preempt before anything is attached.
  std::vector<pid_t> tgids;
  std::unique_ptr<metrics::MapMetrics> metrics;
  if (!o.metrics_listen.empty())
    metrics = std::make_unique<metrics::MapMetrics>(
        o.metrics_listen, "preempt", [&tgids, &o](std::uint32_t pid) -> std::pair<std::string, std::string> {
          const auto p = static_cast<pid_t>(pid);
          if (std::find(tgids.begin(), tgids.end(), p) != tgids.end()) return {"offline", ""};
          const auto& on = o.auto_opts.online;
          if (std::find(on.begin(), on.end(), p) != on.end()) return {"online", ""};
          return {"", ""};
        });

  // 1. Read-only checks, host first: nothing is attached if any fails.
  PreflightPaths paths{host_path("/proc"), host_path("/sys/class/kfd/kfd/proc"),
                       host_path("/sys/module/amdgpu/parameters/sched_policy")};
  check_host(paths, ::geteuid());
  auto kfd = KfdDevice::open("/dev/kfd");
  for (int pid : o.pids) {
    pid_t tgid = check_target(paths, pid, ::getpid());
    if (tgid != pid) fmt::print("note: {} is a thread of process {}; preempting the process\n", pid, tgid);
    if (std::find(tgids.begin(), tgids.end(), tgid) == tgids.end()) tgids.push_back(tgid);
  }

  // 2. Acquisitions, each undone by a destructor (reverse order).
  install_stop_signals();
  PreemptController ctl;  // outlives the session that feeds it
  o.session.instance = "preempt";
  Session session(o.session);
  session.add_sink(&ctl);
  if (metrics) {
    metrics->attached(session.attach_report());
    session.add_sink(&metrics->sink());
    ctl.set_observer(&metrics->observer());
  }
  SessionSource src(session, [m = metrics.get()](const QueueMap& map) {
    if (m) m->refresh(map);
  });
  const auto& ar = session.attach_report();
  fmt::print("Attached {} probes on kernel {}; KFD {}.{}; the map lists {} queue(s).\n", ar.attached(),
             ar.kernel, kfd->version().major, kfd->version().minor, session.map().size());
  // Before attaching a target, which with --wait-runtime can wait minutes for
  // its runtime: a log file or pipe shows where preempt is meanwhile.
  std::fflush(stdout);

  TargetOptions topts;
  topts.wait_runtime_s = o.wait_runtime_s;
  if (o.grace != kDriverGrace) topts.session.grace_period = static_cast<std::uint32_t>(o.grace);
  ProcessNames names;
  for (pid_t tgid : tgids) {
    if (stop_requested()) throw UserError("interrupted before every target was attached", 130);
    ctl.add_target(Target::attach(*kfd, tgid, topts, [&] {
      session.poll(0);  // keep the map current while waiting for a runtime
      return stop_requested();
    }));
    auto qids = session.map().qids_of(static_cast<std::uint32_t>(tgid));
    fmt::print("pid {} ({}): debug session enabled, runtime enabled; queues in the map: {}\n", tgid,
               names.comm(static_cast<std::uint32_t>(tgid)),
               qids.empty() ? std::string("none") : fmt::format("{}", fmt::join(qids, ",")));
  }
  ctl.set_extra_qids(o.extra_qids);
  for (const auto& n : ctl.take_notes()) fmt::print("      {}\n", n);
  if (metrics) {
    metrics->refresh(session.map(), true);
    fmt::print("Serving metrics on {}\n", metrics->url());
  }
  std::fflush(stdout);

  std::unique_ptr<DoorbellProbe> doorbell;
  if (!o.auto_opts.online.empty() && !o.no_doorbell) {
    doorbell = load_doorbell_probe(o.session);
    o.auto_opts.doorbell = doorbell.get();
    o.auto_opts.doorbell_disarm = !o.keep_doorbell_uprobes;
  }
  give_back_startup_heap();  // base/heap.h: what attaching parsed once

  int rc = !o.auto_opts.online.empty() ? run_auto(ctl, src, o.auto_opts, stdout)
           : o.serve                   ? run_serve(ctl, src, o.serve_opts, stdout)
                                       : run_cycles(ctl, src, o.cycles, stdout);

  ctl.detach_all();
  for (const auto& n : ctl.take_notes()) fmt::print("      {}\n", n);
  for (const auto& t : ctl.targets())
    fmt::print("pid {}: {}\n", t->tgid(),
               t->gone() ? "gone; nothing to undo" : "queues resumed, debugging disabled, detached");
  return rc;
}

}  // namespace

void add_preempt(CLI::App& app, Selected& sel) {
  auto o = std::make_shared<PreemptOptions>();
  auto* cmd = app.add_subcommand(
      "preempt",
      "Suspend/resume an offline process's GPU queues (KFD debug trap, exact qids from the map)");
  cmd->add_option("--offline-pid", o->pids, "the offline process (repeatable)")->required();
  auto* cycles = cmd->add_option("--cycles", o->cycles.cycles, "suspend/hold/resume this many times")
                     ->capture_default_str();
  cmd->add_option("--hold-ms", o->cycles.hold_ms, "how long each suspension lasts (the online turn)")
      ->capture_default_str();
  cmd->add_option("--gap-ms", o->cycles.gap_ms, "run time left to the offline job between cycles")
      ->capture_default_str();
  cmd->add_option("--grace", o->grace,
                  "SUSPEND grace period: the waves' time allowance before preemption, 1..255 counts of about "
                  "1K GPU clocks each (the 8-bit SCH_WAVE field; 0 would be infinite); default: the driver's "
                  "own value; HWS GPUs only, MES ignores it");
  auto* serve = cmd->add_flag("--serve", o->serve, "serve claims on a control socket instead of cycling");
  cmd->add_option("--socket", o->serve_opts.socket_path, "control socket path (with --serve)");
  cmd->add_option("--socket-mode", o->socket_mode, "permissions of the control socket")->capture_default_str();
  cmd->add_option("--max-hold-ms", o->serve_opts.max_hold_ms,
                  "with --serve: end any claim held this long (0 = until released)");
  cmd->add_option("--online-pid", o->online_pids,
                  "automatic mode: suspend the offline job while this process has GPU work pending "
                  "(repeatable)");
  cmd->add_option("--idle-ms", o->auto_opts.idle_ms,
                  "with --online-pid: resume after the online processes have been idle this long")
      ->capture_default_str();
  cmd->add_option("--min-hold-ms", o->auto_opts.min_hold_ms,
                  "with --online-pid: keep each suspension at least this long (no flapping)")
      ->capture_default_str();
  cmd->add_option("--poll-us", o->auto_opts.poll_us,
                  "with --online-pid: read the online queues' pointers at most this often")
      ->capture_default_str();
  cmd->add_option("--cpu-budget", o->auto_opts.cpu_budget_pct,
                  "with --online-pid: percent of one core the polling may use (it slows down to stay under)")
      ->capture_default_str();
  cmd->add_flag("--no-doorbell", o->no_doorbell,
               "with --online-pid: no uprobes on the online processes' ROCm runtime; detect by polling only");
  cmd->add_flag("--keep-doorbell-uprobes", o->keep_doorbell_uprobes,
               "with --online-pid: keep the doorbell uprobes in while the offline job is suspended (by "
               "default they are taken out then, and put back before each resume, which waits for it)");
  cmd->add_option("--rt-priority", o->auto_opts.rt_priority,
                  "with --online-pid: run the detection loop SCHED_FIFO at this priority (1-99; 0 = normal), "
                  "so a doorbell's wake-up preempts other work on a busy host")
      ->check(CLI::Range(0, 99))
      ->capture_default_str();
  cmd->add_option("--idle-latency-us", o->auto_opts.idle_latency_us,
                  "with --online-pid: while it runs, keep idle CPUs in states that wake within this many us "
                  "(a PM QoS request on /dev/cpu_dma_latency; costs idle power)")
      ->check(CLI::Range(0, 100'000));
  cmd->add_option("--wait-runtime", o->wait_runtime_s,
                  "seconds to wait for a target that has not initialised its HSA runtime yet");
  cmd->add_option("--extra-qid", o->extra_qids,
                     "(testing) also suspend/resume this qid as if the map listed it")
      ->group("");
  add_metrics_option(cmd, o->metrics_listen);
  add_session_options(cmd, o->session, o->ringbuf_kb);
  cmd->callback([o, &sel, serve, cycles] {
    sel.run = [o, serve, cycles] { return run_preempt(*o, serve->count() > 0, cycles->count() > 0); };
  });
}

}  // namespace gp::cli
