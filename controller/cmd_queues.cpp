// gpreempt-bpf queues: a snapshot of the exact queue map (after start-up
// reconciliation), optionally cross-checked against sysfs.
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli_options.h"
#include "commands.h"
#include "event_json.h"
#include "event_text.h"
#include "process_names.h"
#include "queues_hqd.h"
#include "session.h"
#include "sysfs_queues.h"

namespace gp::cli {

namespace {

struct QueuesOptions {
  std::vector<std::uint32_t> pids;
  bool json = false;
  bool verify = false;
  bool hqd = false;
  SessionOptions session;
  std::uint32_t ringbuf_kb = 1024;
};

int run_queues(QueuesOptions& o) {
  require_pids_exist(o.pids);
  finish_session_options(o.session, o.ringbuf_kb);
  if (o.hqd) return run_queues_hqd(o.pids, o.json, o.session);
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

  if (o.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& e : queues) {
      auto q = queue_to_json(e.info);
      q["pid"] = e.tgid;
      q["origin"] = e.origin == QueueOrigin::Reconciled ? "reconciled" : "event";
      arr.push_back(q);
    }
    nlohmann::json out{{"queues", arr}, {"lost", session.lost()}, {"events", session.events()}};
    if (verify) out["verify"] = {{"ok", verify->ok()}, {"compared", verify->compared},
                                 {"differences", verify->differences}};
    fmt::print("{}\n", out.dump());
  } else {
    ProcessNames names;
    if (queues.empty()) fmt::print("No KFD user queues{}.\n", o.pids.empty() ? "" : " for these processes");
    else for (const auto& row : map_queue_table(queues, names)) fmt::print("{}\n", row);
    fmt::print("{} queues, {} lost events\n", queues.size(), session.lost());
    if (verify) {
      if (verify->ok()) fmt::print("verify: the map agrees with sysfs ({} queues compared)\n", verify->compared);
      for (const auto& d : verify->differences) fmt::print("verify: MISMATCH {}\n", d);
    }
  }
  return verify && !verify->ok() ? 1 : 0;
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
  add_session_options(cmd, o->session, o->ringbuf_kb);
  cmd->callback([o, &sel] { sel.run = [o] { return run_queues(*o); }; });
}

}  // namespace gp::cli
