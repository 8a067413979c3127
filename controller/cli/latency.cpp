// gpreempt-bpf latency: log2 histograms of in-kernel CWSR preemption time per
// cause, printed every interval (or at Ctrl-C), like bcc's funclatency and
// biolatency; plus the HWS phase breakdown (docs/kfd-internals.md §3) and error and
// victim counts. The arithmetic is in controller/latency/stats.h; this file wires the
// session, the options and the output.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "attach/probes.h"
#include "attach/prog_runs.h"
#include "base/clock.h"
#include "base/output_file.h"
#include "base/sample_stats.h"
#include "base/stop_signal.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/render/latency.h"
#include "latency/coverage.h"
#include "latency/stats.h"
#include "tracing/session.h"

namespace gp::cli {

namespace {

struct LatencyOptions {
  std::optional<std::uint32_t> pid;
  std::optional<std::uint32_t> gpu;
  std::string cause;
  bool msecs = false;
  bool json = false;
  bool prog_runs = false;
  double interval_s = 0;  // 0: one report at the end
  int count = 0;          // 0: until Ctrl-C
  std::string output;
  SessionOptions session;
  std::uint32_t ringbuf_kb = 8192;
};

// Joins victims to their span and feeds the filtered spans to the aggregate.
class LatencySink : public EventSink {
 public:
  LatencySink(latency::Filter f, latency::Unit u) : filter_(f), agg_(u) {}

  void on_event(const Event& ev, MapChange, const QueueMap& map) override {
    if (ev.kind() == EventKind::PreemptVictim) {
      join_.add(ev.raw.seq, {ev.raw.tgid, ev.raw.q.qid});
      return;
    }
    if (ev.kind() != EventKind::Preempt) return;
    latency::Span s;
    s.info = ev.raw.pre;
    s.cause = latency::span_cause(ev.cause(), ev.raw.pre);
    s.ret = ev.raw.ret;
    s.victims = join_.take(ev.raw.seq);
    if (s.info.mes) resolve_mes(s, map);
    ++seen_;
    if (!filter_.matches(s)) return;
    ++kept_;
    agg_.add(s);
  }

  latency::Aggregator& aggregate() { return agg_; }
  std::uint64_t seen() const { return seen_; }
  std::uint64_t kept() const { return kept_; }
  std::uint64_t victims_dropped() const { return join_.dropped(); }

 private:
  // MES spans carry only the doorbell: the map names the queue, its owner and
  // gpu. Not for a suspend/resume of every queue (its KFD victims come from
  // BPF) nor for a graphics user queue (KFD's map does not hold it).
  static void resolve_mes(latency::Span& s, const QueueMap& map) {
    if (s.info.flags & (GP_PF_ALL_QUEUES | GP_PF_NOT_KFD)) return;
    std::vector<std::pair<gp_queue_info, std::uint32_t>> queues;
    for (const auto& e : map.all()) queues.emplace_back(e.info, e.tgid);
    auto owner = latency::resolve_doorbell(queues, s.info.doorbell_off);
    if (!owner) return;
    s.mes_owner = owner->pid;
    if (!s.info.gpu_id) s.info.gpu_id = owner->gpu_id;
    if (!s.info.mes_add) s.victims.push_back({owner->pid, owner->qid});
  }

  latency::Filter filter_;
  latency::VictimJoin join_;
  latency::Aggregator agg_;
  std::uint64_t seen_ = 0, kept_ = 0;
};

// "none, create, ...": every name --cause takes.
std::string cause_list() {
  std::string out;
  for (std::uint32_t c = 0; c < GP_CAUSE_MAX; ++c)
    out += fmt::format("{}{}", c ? ", " : "", to_string(static_cast<Cause>(c)));
  return out;
}

latency::Filter make_filter(const LatencyOptions& o) {
  latency::Filter f;
  f.pid = o.pid;
  f.gpu_id = o.gpu;
  if (!o.cause.empty()) {
    f.cause = cause_from_string(o.cause);
    if (!f.cause) throw UserError(fmt::format("--cause {}: not a cause; one of {}", o.cause, cause_list()), 2);
  }
  return f;
}

// Refuses to run when nothing could ever be measured; otherwise says what is missing.
void print_coverage(const latency::Coverage& c, const AttachReport& r, const LatencyOptions& o, OutputFile& out) {
  if (o.json) {
    nlohmann::json absent = nlohmann::json::array();
    for (const auto& [sym, why] : c.absent) absent.push_back({{"symbol", sym}, {"reason", why}});
    out.line(nlohmann::json{{"type", "attach"},
                            {"kernel", r.kernel},
                            {"hws_spans", c.hws},
                            {"mes_spans", c.mes},
                            {"attached", c.attached},
                            {"absent", absent},
                            {"warnings", c.warnings},
                            {"notes", r.notes}}
                 .dump());
  } else {
    out.line(fmt::format("Tracing in-kernel GPU preemptions on kernel {}: HWS spans {}, MES spans {}. {}", r.kernel,
                         c.hws ? "on" : "off", c.mes ? "on" : "off",
                         o.interval_s > 0 ? "Ctrl-C to end." : "Hit Ctrl-C to end."));
    for (const auto& [sym, why] : c.absent) out.line(fmt::format("  absent: {}: {}", sym, why));
    for (const auto& w : c.warnings) out.line("  warning: " + w);
    for (const auto& n : r.notes) out.line("  note: " + n);
  }
  out.flush();
}

void print_interval(LatencySink& sink, const LatencyOptions& o, OutputFile& out, std::uint64_t t0, int index) {
  const auto& agg = sink.aggregate();
  if (o.json) {
    nlohmann::json j = latency::latency_json(agg);
    j["type"] = "interval";
    j["index"] = index;
    j["t_s"] = static_cast<double>(monotonic_ns() - t0) / 1e9;
    out.line(j.dump());
  } else {
    if (o.interval_s > 0) out.line(fmt::format("\n{:.1f}s:", static_cast<double>(monotonic_ns() - t0) / 1e9));
    std::fputs(latency::latency_text(agg).c_str(), out.get());
  }
  out.flush();
}

void print_summary(const Session& s, LatencySink& sink, const ProgRunCounter* runs, const LatencyOptions& o,
                   OutputFile& out, int intervals) {
  std::map<std::string, std::uint64_t> prog_runs;
  if (runs) {
    auto counted = runs->counts();
    for (const auto& spec : latency_probes()) {
      auto it = counted.find(spec.program);
      if (it != counted.end()) prog_runs[spec.program] = it->second;
    }
  }
  if (o.json) {
    nlohmann::json j{{"type", "summary"},        {"intervals", intervals},
                     {"spans_seen", sink.seen()}, {"spans_kept", sink.kept()},
                     {"events", s.events()},      {"lost", s.lost()},
                     {"victims_unmatched", sink.victims_dropped()}};
    if (runs) j["program_runs"] = prog_runs;
    out.line(j.dump());
  } else {
    out.line(fmt::format("\n{} preemption span(s) seen, {} matched the filter; {} events, {} lost", sink.seen(),
                         sink.kept(), s.events(), s.lost()));
    if (s.lost()) out.line("  some spans may be missing: the ring buffer overflowed (try --ringbuf-kb)");
    if (runs) {
      std::string line = "BPF program runs:";
      for (const auto& [name, n] : prog_runs) line += fmt::format(" {}={}", name, n);
      out.line(line);
    }
  }
  out.flush();
}

int run_latency(LatencyOptions& o) {
  if (o.interval_s < 0) throw UserError("interval must be positive", 2);
  if (o.count < 0) throw UserError("count must be positive", 2);
  if (o.count > 0 && o.interval_s == 0) throw UserError("count needs an interval: latency [interval] [count]", 2);
  if (o.pid) require_pids_exist({*o.pid});
  const latency::Filter filter = make_filter(o);
  finish_session_options(o.session, o.ringbuf_kb);
  o.session.latency_probes = true;
  o.session.instance = "latency";
  OutputFile out(o.output);

  install_stop_signals();
  Session session(o.session);
  const auto cov = latency::coverage(session.attach_report());
  if (!cov.any()) {
    std::string why;
    for (const auto& [sym, reason] : cov.absent)
      if (sym == "unmap_queues_cpsch" || sym.rfind("mes_v", 0) == 0) why += fmt::format("\n  {}: {}", sym, reason);
    for (const auto& n : session.attach_report().notes) why += "\n  note: " + n;
    throw UserError(fmt::format("no preemption span probe is attached on kernel {}, nothing to measure:{}",
                                session.attach_report().kernel, why));
  }
  std::unique_ptr<ProgRunCounter> runs;
  if (o.prog_runs) {
    try {
      runs = std::make_unique<ProgRunCounter>();
    } catch (const std::exception& e) {
      throw UserError(fmt::format("--prog-runs: {}", e.what()));
    }
  }
  print_coverage(cov, session.attach_report(), o, out);

  LatencySink sink(filter, o.msecs ? latency::Unit::Msecs : latency::Unit::Usecs);
  session.add_sink(&sink);
  const std::uint64_t t0 = monotonic_ns();
  const auto step = static_cast<std::uint64_t>(o.interval_s * 1e9);
  std::uint64_t next = step ? t0 + step : 0;
  int printed = 0;
  while (!stop_requested()) {
    session.poll(100);
    if (next && monotonic_ns() >= next) {
      session.poll(0);
      print_interval(sink, o, out, t0, ++printed);
      sink.aggregate().reset();
      if (o.count && printed >= o.count) break;
      next += step;
    }
  }
  session.poll(0);
  // As bcc does: Ctrl-C prints what the unfinished interval holds.
  if (!(o.count && printed >= o.count)) print_interval(sink, o, out, t0, ++printed);
  print_summary(session, sink, runs.get(), o, out, printed);
  return 0;
}

}  // namespace

void add_latency(CLI::App& app, Selected& sel) {
  auto o = std::make_shared<LatencyOptions>();
  auto* cmd = app.add_subcommand(
      "latency",
      "Histograms of in-kernel CWSR preemption time per cause (HWS unmap_queues_cpsch T0..T4 with phases, MES "
      "remove/add_hw_queue), like bcc's funclatency");
  cmd->add_option("-p,--pid", o->pid,
                  "only preemptions whose cause acted on PID or that preempted one of PID's queues (collateral too)");
  cmd->add_option("--gpu", o->gpu, "only this gpu_id (as in /sys/class/kfd/kfd/topology/nodes/*/gpu_id)");
  cmd->add_option("--cause", o->cause, "only this cause: " + cause_list() + " (docs/latency.md)");
  cmd->add_flag("-m,--milliseconds", o->msecs, "histograms in milliseconds instead of microseconds");
  cmd->add_flag("--json", o->json, "one JSON object per line: attach, one per interval, summary");
  cmd->add_flag("--prog-runs", o->prog_runs,
                "also report how often each latency BPF program ran (turns on kernel BPF run-time statistics "
                "while running)");
  cmd->add_option("-o,--output", o->output, "write to FILE instead of stdout");
  cmd->add_option("interval", o->interval_s, "seconds between reports (default: one report at Ctrl-C)");
  cmd->add_option("count", o->count, "number of reports, then exit");
  add_session_options(cmd, o->session, o->ringbuf_kb);
  cmd->callback([o, &sel] { sel.run = [o] { return run_latency(*o); }; });
}

}  // namespace gp::cli
