// gpreempt-bpf queues: a snapshot of the exact queue map (after start-up
// reconciliation), optionally cross-checked against sysfs.
#include <unistd.h>

#include <algorithm>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/host_paths.h"
#include "base/proc.h"
#include "base/stop_signal.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/queues_hqd.h"
#include "cli/render/map_stats.h"
#include "kfd/client.h"
#include "preempt/preflight.h"
#include "preempt/snapshot_check.h"
#include "preempt/target.h"
#include "trace/event_json.h"
#include "tracing/event_text.h"
#include "tracing/session.h"
#include "tracing/sysfs_queues.h"

namespace gp::cli {

namespace {

struct QueuesOptions {
  std::vector<std::uint32_t> pids;
  bool json = false;
  bool verify = false;
  bool hqd = false;
  bool snapshot_check = false;
  SessionOptions session;
  std::uint32_t ringbuf_kb = 1024;
};

// --snapshot-check: a debug session per process (ptrace + ENABLE, no
// suspend), GET_QUEUE_SNAPSHOT, then detach. Read-only checks come first so a
// refusal leaves nothing attached.
struct SnapshotPrereqs {
  std::unique_ptr<KfdDevice> kfd;
  std::vector<pid_t> tgids;
};

SnapshotPrereqs snapshot_prereqs(const std::vector<std::uint32_t>& pids) {
  if (pids.empty())
    throw UserError("--snapshot-check needs -p PID: the processes whose queues KFD should list", 2);
  PreflightPaths paths{host_path("/proc"), host_path("/sys/class/kfd/kfd/proc"),
                       host_path("/sys/module/amdgpu/parameters/sched_policy")};
  check_host(paths, ::geteuid());
  SnapshotPrereqs p;
  try {
    p.kfd = KfdDevice::open("/dev/kfd");
  } catch (const UserError& e) {
    throw UserError(fmt::format("--snapshot-check needs the KFD debug API: {}", e.what()), e.code);
  }
  for (auto pid : pids) {
    pid_t tgid = check_target(paths, static_cast<pid_t>(pid), ::getpid());
    if (std::find(p.tgids.begin(), p.tgids.end(), tgid) == p.tgids.end()) p.tgids.push_back(tgid);
  }
  return p;
}

std::vector<SnapshotCheck> run_snapshot_checks(SnapshotPrereqs& p, Session& session) {
  std::vector<SnapshotCheck> out;
  TargetOptions topts;
  topts.require_runtime = false;
  for (pid_t tgid : p.tgids) {
    auto target = Target::attach(*p.kfd, tgid, topts, [] { return stop_requested(); });
    std::vector<gp_kfd_queue_snapshot_entry> entries;
    int r = target->read_queue_snapshot(&entries);
    target->detach();
    session.poll(0);  // events up to the snapshot are in the map
    out.push_back(compare_with_snapshot(static_cast<std::uint32_t>(tgid),
                                        session.map().queues_of(static_cast<std::uint32_t>(tgid)), r,
                                        entries));
  }
  return out;
}

int run_queues(QueuesOptions& o) {
  require_pids_exist(o.pids);
  finish_session_options(o.session, o.ringbuf_kb);
  if (o.hqd) return run_queues_hqd(o.pids, o.json, o.session);
  std::optional<SnapshotPrereqs> snap_prereqs;
  if (o.snapshot_check) {
    snap_prereqs = snapshot_prereqs(o.pids);
    install_stop_signals();
  }
  o.session.instance = "queues";
  o.session.latency_probes = false;  // a snapshot needs the lifecycle set only: half the attach work
  Session session(o.session);
  session.poll(0);

  std::vector<QueueEntry> queues;
  if (o.pids.empty()) {
    queues = session.map().all();
  } else {
    for (auto pid : o.pids) {
      auto q = session.map().queues_of(pid);
      queues.insert(queues.end(), q.begin(), q.end());
    }
  }

  std::optional<VerifyReport> verify;
  if (o.verify) {
    // Read sysfs again after the map settled; differences mean lost or wrong events.
    const SysfsScan scan = scan_sysfs_queues();
    session.poll(0);
    verify = verify_against_sysfs(session.map(), scan);
  }
  std::vector<SnapshotCheck> snaps;
  if (snap_prereqs) snaps = run_snapshot_checks(*snap_prereqs, session);
  const bool snaps_ok = std::all_of(snaps.begin(), snaps.end(), [](const SnapshotCheck& c) { return c.ok(); });

  if (o.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& e : queues) {
      auto q = queue_to_json(e.info);
      q["pid"] = e.tgid;
      q["origin"] = e.origin == QueueOrigin::Reconciled ? "reconciled" : "event";
      arr.push_back(q);
    }
    nlohmann::json out{{"queues", arr}, {"lost", session.lost()}, {"events", session.events()},
                       {"map", map_stats_json(session.map().stats())}};
    if (verify) out["verify"] = {{"ok", verify->ok()}, {"compared", verify->compared},
                                 {"differences", verify->differences}};
    if (snap_prereqs) {
      nlohmann::json arr2 = nlohmann::json::array();
      for (const auto& c : snaps)
        arr2.push_back({{"pid", c.pid}, {"ok", c.ok()}, {"kernel_ret", c.kernel_ret},
                        {"kernel_queues", c.kernel_queues}, {"compared", c.compared},
                        {"differences", c.differences}});
      out["snapshot_check"] = arr2;
    }
    fmt::print("{}\n", out.dump());
  } else {
    ProcessNames names;
    if (queues.empty()) fmt::print("No KFD user queues{}.\n", o.pids.empty() ? "" : " for these processes");
    else for (const auto& row : map_queue_table(queues, names)) fmt::print("{}\n", row);
    fmt::print("{} queues, {} lost events{}\n", queues.size(), session.lost(),
               map_stats_text(session.map().stats()));
    if (verify) {
      if (verify->ok()) fmt::print("verify: the map agrees with sysfs ({} queues compared)\n", verify->compared);
      for (const auto& d : verify->differences) fmt::print("verify: MISMATCH {}\n", d);
    }
    for (const auto& c : snaps) {
      if (c.ok())
        fmt::print("snapshot: pid {}: the map agrees with KFD's queue snapshot ({} queues listed by the "
                   "kernel, {} in the map)\n",
                   c.pid, c.kernel_queues, c.compared);
      for (const auto& d : c.differences) fmt::print("snapshot: MISMATCH {}\n", d);
    }
  }
  return (verify && !verify->ok()) || !snaps_ok ? 1 : 0;
}

}  // namespace

void add_queues(CLI::App& app, Selected& sel) {
  auto o = std::make_shared<QueuesOptions>();
  auto* cmd = app.add_subcommand("queues", "Print the exact map of live GPU queues per process");
  cmd->add_option("-p,--pid", o->pids, "only these processes (repeatable)");
  cmd->add_flag("--json", o->json, "JSON output");
  cmd->add_flag("--verify", o->verify, "cross-check the map against /sys/class/kfd (exit 1 on any difference)");
  cmd->add_flag("--hqd", o->hqd,
                "show the hardware queue slots (HQDs) each queue occupies, from ONE read of "
                "/sys/kernel/debug/kfd/hqds; that read makes the driver read live registers of every HQD, "
                "which can disturb a busy GPU: opt-in, single-shot, avoid in production")
      ->excludes("--verify");
  cmd->add_flag("--snapshot-check", o->snapshot_check,
                "with -p: also compare the map with KFD's own queue list (DBG_TRAP GET_QUEUE_SNAPSHOT "
                "in a short debug session; ptrace-attaches, never suspends; exit 1 on any difference)")
      ->excludes("--hqd");
  add_session_options(cmd, o->session, o->ringbuf_kb);
  cmd->callback([o, &sel] { sel.run = [o] { return run_queues(*o); }; });
}

}  // namespace gp::cli
