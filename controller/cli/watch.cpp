// gpreempt-bpf watch: every queue lifecycle event as it happens, and the
// exact per-process queue map every interval.
#include <time.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "attach/trampoline.h"
#include "base/clock.h"
#include "base/heap.h"
#include "base/output_file.h"
#include "base/proc.h"
#include "base/stop_signal.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/render/map_stats.h"
#include "metrics/map_metrics.h"
#include "trace/event_json.h"
#include "tracing/event_text.h"
#include "tracing/session.h"

namespace gp::cli {

namespace {

struct WatchOptions {
  std::vector<std::uint32_t> pids;
  bool json = false;
  double interval_s = 10.0;
  double duration_s = 0.0;
  std::string output;
  SessionOptions session;
  std::uint32_t ringbuf_kb = 8192;
  std::string metrics_listen;  // --metrics-listen ADDR:PORT
};

nlohmann::json attach_json(const AttachReport& r) {
  nlohmann::json attached = nlohmann::json::array(), missing = nlohmann::json::array();
  std::set<std::string> seen;
  for (const auto& p : r.probes) {
    if (p.attached && seen.insert(p.spec.symbol).second) attached.push_back(p.spec.symbol);
  }
  std::set<std::string> seen_missing;
  for (const auto* p : r.missing_optional())
    if (seen_missing.insert(p->spec.symbol).second)
      missing.push_back({{"symbol", p->spec.symbol}, {"reason", p->error}});
  nlohmann::json startup = nlohmann::json::object();
  for (const auto& [phase, ms] : r.startup_ms) startup[phase] = std::round(ms * 10) / 10;
  return {{"type", "attach"},          {"kernel", r.kernel}, {"attached", attached},
          {"mechanisms", {{"lifecycle", mechanisms_by_symbol(r, true, "lifecycle")},
                          {"latency", mechanisms_by_symbol(r, true, "latency")}}},
          {"missing_optional", missing}, {"notes", r.notes},   {"startup_ms", startup},
          {"kallsyms_cached", r.kallsyms_cached}};
}

class WatchPrinter : public EventSink {
 public:
  WatchPrinter(const WatchOptions& o, OutputFile& out, std::uint64_t t0)
      : o_(o), out_(out), t0_(t0), filter_(o.pids.begin(), o.pids.end()) {}

  void on_event(const Event& ev, MapChange, const QueueMap&) override {
    ++by_kind_[std::string(to_string(ev.kind()))];
    if (!wanted(ev)) return;
    if (o_.json) {
      out_.line(to_json(ev).dump());
    } else {
      if (lines_++ % 40 == 0) out_.line(event_text_header());
      out_.line(event_text_line(ev, t0_, names_));
    }
    out_.flush();
  }

  void on_loss(std::uint64_t total) override {
    if (o_.json) out_.line(nlohmann::json{{"type", "loss"}, {"lost", total}}.dump());
    else out_.line(fmt::format("*** {} events lost so far: the ring buffer was full; re-reading the map from sysfs", total));
    out_.flush();
  }

  void table(const Session& s) {
    const QueueMap& map = s.map();
    if (o_.json) {
      nlohmann::json procs = nlohmann::json::object();
      for (const auto& e : map.all()) {
        if (!filter_.empty() && !filter_.count(e.tgid)) continue;
        procs[std::to_string(e.tgid)].push_back(e.info.qid);
      }
      out_.line(nlohmann::json{{"type", "stats"},
                               {"t_s", (monotonic_ns() - t0_) / 1e9},
                               {"events", s.events()},
                               {"lost", s.lost()},
                               {"queues", map.size()},
                               {"qids_by_pid", procs},
                               {"map", map_stats_json(map.stats())}}
                    .dump());
    } else {
      out_.line(fmt::format("--- queue map at {:.1f}s: {} queues, {} events, {} lost{} ---",
                            (monotonic_ns() - t0_) / 1e9, map.size(), s.events(), s.lost(),
                            map_stats_text(map.stats())));
      for (const auto& row : map_process_table(map, names_)) out_.line(row);
      lines_ = 0;
    }
    out_.flush();
  }

  void summary(const Session& s) {
    if (o_.json) {
      out_.line(nlohmann::json{{"type", "summary"},
                               {"events", s.events()},
                               {"lost", s.lost()},
                               {"decode_errors", s.decode_errors()},
                               {"queues", s.map().size()},
                               {"map", map_stats_json(s.map().stats())},
                               {"by_kind", by_kind_}}
                    .dump());
    } else {
      out_.line(fmt::format("{} events, {} lost, {} queues in the map at exit", s.events(), s.lost(),
                            s.map().size()));
    }
    out_.flush();
  }

 private:
  bool wanted(const Event& ev) const {
    if (filter_.empty()) return true;
    return filter_.count(ev.raw.tgid) || filter_.count(ev.raw.acting_tgid) ||
           (ev.kind() == EventKind::IoctlDbgTrap && filter_.count(ev.raw.io.dbg_target_pid));
  }

  const WatchOptions& o_;
  OutputFile& out_;
  std::uint64_t t0_;
  std::set<std::uint32_t> filter_;
  ProcessNames names_;
  std::map<std::string, std::uint64_t> by_kind_;
  std::uint64_t lines_ = 0;
};

int run_watch(WatchOptions& o) {
  require_pids_exist(o.pids);
  finish_session_options(o.session, o.ringbuf_kb);
  if (o.interval_s <= 0) throw UserError("--interval must be positive", 2);
  OutputFile out(o.output);
  // Listening first: a port in use stops watch before anything is attached.
  std::unique_ptr<metrics::MapMetrics> metrics;
  if (!o.metrics_listen.empty()) metrics = std::make_unique<metrics::MapMetrics>(o.metrics_listen, "watch");

  install_stop_signals();
  o.session.instance = "watch";
  Session session(o.session);
  const std::uint64_t t0 = monotonic_ns();
  WatchPrinter printer(o, out, t0);

  if (o.json) {
    out.line(attach_json(session.attach_report()).dump());
  } else {
    const auto& r = session.attach_report();
    std::size_t tramp = 0;
    for (const auto& [sym, mech] : mechanisms_by_symbol(r)) tramp += mech.find("fe") != std::string::npos;
    out.line(fmt::format("Attached {} probes on kernel {} ({} functions on fentry/fexit); {} queues already "
                         "existed. Ctrl-C to stop.",
                         r.attached(), r.kernel, tramp, session.map().size()));
    std::set<std::string> seen;
    for (const auto* p : r.missing_optional())
      if (seen.insert(p->spec.symbol).second)
        out.line(fmt::format("  optional probe {} absent: {}", p->spec.symbol, p->error));
    for (const auto& n : r.notes) out.line("  note: " + n);
  }
  printer.table(session);
  session.add_sink(&printer);
  if (metrics) {
    metrics->attached(session.attach_report());
    session.add_sink(&metrics->sink());
    metrics->refresh(session.map(), true);
    fmt::print(stderr, "gpreempt-bpf: serving metrics on {}\n", metrics->url());
  }

  give_back_startup_heap();  // base/heap.h: what attaching parsed once
  std::uint64_t next_table = t0 + static_cast<std::uint64_t>(o.interval_s * 1e9);
  const std::uint64_t end = o.duration_s > 0 ? t0 + static_cast<std::uint64_t>(o.duration_s * 1e9) : 0;
  while (!stop_requested()) {
    session.poll(100);
    if (metrics) metrics->refresh(session.map());
    const std::uint64_t now = monotonic_ns();
    if (now >= next_table) {
      printer.table(session);
      next_table = now + static_cast<std::uint64_t>(o.interval_s * 1e9);
    }
    if (end && now >= end) break;
  }
  session.poll(0);
  printer.summary(session);
  return 0;
}

}  // namespace

void add_watch(CLI::App& app, Selected& sel) {
  auto o = std::make_shared<WatchOptions>();
  auto* cmd = app.add_subcommand("watch", "Show every GPU queue event live, with the exact per-process queue map");
  cmd->add_option("-p,--pid", o->pids, "only events of these processes (repeatable)");
  cmd->add_flag("--json", o->json, "one JSON object per line (schema in trace/README.md)");
  cmd->add_option("--interval", o->interval_s, "seconds between queue map tables")->capture_default_str();
  cmd->add_option("--duration", o->duration_s, "stop after this many seconds (0 = until Ctrl-C)");
  cmd->add_option("-o,--output", o->output, "write to FILE instead of stdout");
  add_metrics_option(cmd, o->metrics_listen);
  cmd->add_flag("--ioctls", o->session.all_ioctls,
                "also every /dev/kfd ioctl, whatever the command (kfd_ioctl events: caller, request, decoded "
                "arguments, result; one more probe, on the KFD ioctl dispatcher)");
  add_session_options(cmd, o->session, o->ringbuf_kb);
  cmd->callback([o, &sel] { sel.run = [o] { return run_watch(*o); }; });
}

}  // namespace gp::cli
