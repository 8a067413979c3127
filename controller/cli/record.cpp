// gpreempt-bpf record: every lifecycle, state, process and preemption event
// into a versioned JSON Lines trace (trace/README.md) for `report`.
//
//   record -o FILE [--perfetto OUT] [--duration S] [-p PID]... [-- CMD ARGS...]
//
// Order matters, so each step can fail cleanly:
//   1. check -o (and --perfetto) can be written; nothing is attached yet
//   2. host facts (our own /dev/kfd open happens before the probes exist)
//   3. the session: preflight, load, attach, reconcile (throws the clear
//      "no amdgpu" message on hosts without one; the unused file is removed)
//   4. start time, drain what the attach period produced into the map, and
//      snapshot the map: that is the header's initial queue map
//   5. start the workload (after attaching: its first ioctl is seen)
//   6. header, then events until Ctrl-C, --duration or the workload's exit
//   7. trailer; then the Perfetto export, from the file just written
#include <unistd.h>

#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "base/stop_signal.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "record/filter.h"
#include "record/forkwatch.h"
#include "record/header.h"
#include "record/output.h"
#include "record/progress.h"
#include "record/signals.h"
#include "record/tree.h"
#include "record/workload.h"
#include "trace/perfetto.h"
#include "trace/reader.h"
#include "trace/writer.h"
#include "tracing/session.h"

namespace gp::cli {

namespace {

// A workload told to stop gets this long to exit (its teardown events are
// the end of its story) before the trace ends without it.
constexpr double kWorkloadGrace_s = 10.0;
constexpr double kStatsPeriod_s = 1.0;

struct RecordOptions {
  std::string output;
  std::string perfetto;
  double duration_s = 0;
  double linger_s = 1.0;
  std::vector<std::uint32_t> pids;
  std::vector<std::string> command;
  SessionOptions session;
  std::uint32_t ringbuf_kb = 8192;
};

double seconds_since(std::uint64_t t0_ns) { return static_cast<double>(record::now().monotonic_ns - t0_ns) / 1e9; }

// Filters each event and writes what is kept. Runs inside Session::poll(),
// i.e. inside libbpf's ring-buffer callback: no exception may leave it, so a
// write error is kept and the main loop stops on it.
class TraceSink : public EventSink {
 public:
  TraceSink(trace::TraceWriter& w, record::RecordFilter& f, const Session& s) : w_(w), f_(f), s_(s) {}

  void on_event(const Event& ev, MapChange, const QueueMap&) override {
    if (!error_.empty()) return;
    try {
      for (const auto& e : f_.offer(ev)) w_.write(e);
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }

  // A stats line marks where in the file the loss happened.
  void on_loss(std::uint64_t total) override {
    if (!error_.empty()) return;
    try {
      w_.stats({record::now().monotonic_ns, s_.events(), total, live_queues()});
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }

  std::uint32_t live_queues() const {
    if (!f_.filtering()) return static_cast<std::uint32_t>(s_.map().size());
    std::uint32_t n = 0;
    for (const auto& q : s_.map().all()) n += f_.keeps_owner(q.tgid);
    return n;
  }
  const std::string& error() const { return error_; }

 private:
  void fail(const std::string& why) {
    error_ = why;
    request_stop();
  }
  trace::TraceWriter& w_;
  record::RecordFilter& f_;
  const Session& s_;
  std::string error_;
};

void print_attach(const Session& session, const RecordOptions& o) {
  const auto& r = session.attach_report();
  fmt::print(stderr, "Recording to {}: {} probes attached on kernel {}, {} queues already existed.{}\n", o.output,
             r.attached(), r.kernel, session.map().size(),
             o.command.empty() ? " Ctrl-C to stop." : "");
  for (const auto* p : r.missing_optional())
    fmt::print(stderr, "  optional probe {} absent: {}\n", p->spec.symbol, p->error);
  for (const auto& n : r.notes) fmt::print(stderr, "  note: {}\n", n);
}

void write_perfetto_from(const std::string& trace_path, const std::string& out) {
  try {
    const trace::Trace t = trace::read_trace_file(trace_path);
    trace::write_perfetto({trace::analyze(t)}, out);
  } catch (const std::exception& e) {
    throw UserError(fmt::format("the trace {} is complete, but the Perfetto export failed: {}", trace_path, e.what()));
  }
}

int run_record(RecordOptions& o) {
  if (o.duration_s < 0) throw UserError("--duration must be positive (0 = no limit)", 2);
  if (o.linger_s < 0) throw UserError("--linger must not be negative", 2);
  if (!o.perfetto.empty() && o.perfetto == o.output) throw UserError("--perfetto and -o name the same file", 2);
  require_pids_exist(o.pids);
  finish_session_options(o.session, o.ringbuf_kb);

  // 1. Outputs first: an unwritable path fails before anything is attached.
  record::PendingOutput out(o.output);
  std::optional<record::PendingOutput> perfetto_out;
  if (!o.perfetto.empty()) perfetto_out.emplace(o.perfetto);

  // 2. Before attaching, so our own /dev/kfd open is not in the trace.
  const HostFacts facts = gather_host_facts();
  const auto gpus = record::topology_gpus();

  // 3.
  record::install_record_signals();
  o.session.instance = "record";
  Session session(o.session);
  if (stop_requested()) throw UserError("interrupted while attaching; nothing was recorded", 130);

  // The process tree (only with -p or `--`). Fork edges start before the
  // workload exists and before /proc is scanned, so no child slips between.
  const bool filtering = !o.pids.empty() || !o.command.empty();
  record::ProcessTree tree(record::proc_parent);
  std::unique_ptr<record::ForkWatch> forks;
  bool forks_complete = true;
  auto drain_forks = [&] {
    if (forks && !forks->drain([&](std::uint32_t p, std::uint32_t c) { tree.add_child(p, c); }) && forks_complete) {
      forks_complete = false;
      tree.set_exact(false);  // messages were dropped: fall back to /proc for unknown pids
      fmt::print(stderr, "warning: process events were dropped; children are now matched through /proc\n");
    }
  };
  if (filtering) {
    try {
      forks = std::make_unique<record::ForkWatch>();
      tree.set_exact(true);
      tree.set_before_miss(drain_forks);
    } catch (const record::ForkWatchError& e) {
      fmt::print(stderr,
                 "warning: no process events ({}): children of the recorded processes are found through /proc, "
                 "which misses those that exit before their first event is read\n",
                 e.what());
    }
    for (auto pid : o.pids) tree.add_root(pid);
    tree.adopt_descendants(record::proc_pids());
  }
  record::RecordFilter filter(filtering ? record::RecordFilter::Member([&](std::uint32_t pid) { return tree.contains(pid); })
                                        : record::RecordFilter::Member());

  // 4. Events of the attach period go to the map only; every event written
  // after the header is later than its start time.
  const record::StartTime start = record::now();
  session.poll(0);
  const std::vector<QueueEntry> initial = session.map().all();

  // 5.
  std::optional<record::Workload> workload;
  if (!o.command.empty()) {
    workload.emplace(o.command);
    tree.add_root(static_cast<std::uint32_t>(workload->pid()));
  }

  // 6.
  record::HeaderInput hin;
  hin.facts = facts;
  hin.host = record::host_name();
  hin.gpus = gpus;
  hin.start = start;
  hin.pids = tree.roots();
  if (!o.command.empty()) hin.command = o.command;
  hin.queues = initial;
  if (filtering) hin.keep_owner = [&](std::uint32_t pid) { return tree.contains(pid); };

  std::optional<trace::TraceWriter> writer;
  try {
    writer.emplace(o.output);
    writer->begin(record::build_header(hin));
  } catch (const trace::TraceWriteError& e) {
    if (workload) workload->signal(SIGTERM);
    throw UserError(e.what());
  }
  TraceSink sink(*writer, filter, session);
  session.add_sink(&sink);
  print_attach(session, o);
  if (workload) fmt::print(stderr, "Started {} as pid {}\n", o.command[0], workload->pid());

  record::Progress progress(stderr, ::isatty(STDERR_FILENO) == 1);
  auto counts = [&] {
    return record::ProgressCounts{seconds_since(start.monotonic_ns), session.events(), writer->events_written(),
                                  sink.live_queues(), session.lost()};
  };

  int handled_requests = 0;
  std::optional<double> stop_by;      // elapsed time by which the workload should be gone
  std::optional<double> linger_until;  // the workload exited: a last look for its deferred events
  double next_stats = kStatsPeriod_s;
  std::string stopped_because;
  for (;;) {
    session.poll(100);
    drain_forks();
    if (!sink.error().empty()) break;
    const double t = seconds_since(start.monotonic_ns);

    if (workload && !linger_until && workload->poll_exit()) linger_until = t + o.linger_s;
    if (linger_until && t >= *linger_until) {
      stopped_because = fmt::format("the workload {}", workload->describe_exit());
      break;
    }

    if (record::stop_requests() > handled_requests) {
      handled_requests = record::stop_requests();
      const int sig = record::last_stop_signal();
      if (workload && !workload->exited() && !record::last_stop_from_terminal()) workload->signal(sig);
      if (!workload || workload->exited() || handled_requests >= 2) {
        stopped_because = fmt::format("signal {}", sig);
        break;
      }
      if (!stop_by) {
        stop_by = t + kWorkloadGrace_s;
        progress.finish();
        fmt::print(stderr, "Stopping: waiting up to {:.0f} s for the workload to exit (again to stop now)\n",
                   kWorkloadGrace_s);
      }
    }
    if (o.duration_s > 0 && t >= o.duration_s && !stop_by && !linger_until) {
      if (!workload) {
        stopped_because = fmt::format("--duration {}", o.duration_s);
        break;
      }
      workload->signal(SIGTERM);
      stop_by = t + kWorkloadGrace_s;
      progress.finish();
      fmt::print(stderr, "--duration reached: sent SIGTERM to the workload, waiting up to {:.0f} s\n",
                 kWorkloadGrace_s);
    }
    if (stop_by && t >= *stop_by && !linger_until) {
      stopped_because = fmt::format("the workload (pid {}) did not exit within {:.0f} s", workload->pid(),
                                    kWorkloadGrace_s);
      break;
    }

    if (t >= next_stats) {
      next_stats = t + kStatsPeriod_s;
      const auto c = counts();
      try {
        writer->stats({record::now().monotonic_ns, c.seen, c.lost, c.live_queues});
      } catch (const std::exception& e) {
        throw UserError(fmt::format("writing {}: {} (the trace is truncated)", o.output, e.what()));
      }
      progress.update(c);
    }
  }

  // 7.
  session.poll(0);
  if (!sink.error().empty())
    throw UserError(fmt::format("writing {}: {} (the trace is truncated)", o.output, sink.error()));
  const auto final_counts = counts();
  try {
    for (const auto& e : filter.finish()) writer->write(e);
    const record::StartTime end = record::now();
    writer->end({0, session.lost(), end.monotonic_ns, end.realtime_ns});
  } catch (const std::exception& e) {
    throw UserError(fmt::format("writing {}: {} (the trace is truncated)", o.output, e.what()));
  }
  out.keep();
  progress.finish();
  fmt::print(stderr, "Stopped ({}): {} events written ({} seen), {} lost{} to {}\n", stopped_because,
             writer->events_written(), final_counts.seen, session.lost(),
             session.decode_errors() ? fmt::format(", {} undecodable", session.decode_errors()) : std::string(),
             o.output);
  if (workload && !workload->exited())
    fmt::print(stderr, "warning: the workload (pid {}) is still running; the trace ends without its exit\n",
               workload->pid());

  if (perfetto_out) {
    write_perfetto_from(o.output, o.perfetto);
    perfetto_out->keep();
    fmt::print(stderr, "Perfetto timeline written to {} (open it in ui.perfetto.dev)\n", o.perfetto);
  }
  if (!workload) return 0;
  return workload->exited() ? workload->exit_code() : 128 + record::last_stop_signal();
}

}  // namespace

void add_record(CLI::App& app, Selected& sel) {
  auto o = std::make_shared<RecordOptions>();
  auto* cmd = app.add_subcommand(
      "record", "Record every queue event to a versioned JSON Lines trace (for `report`); with -- CMD, around a workload");
  cmd->add_option("-o,--output", o->output, "the trace file (JSON Lines, schema in trace/README.md)")->required();
  cmd->add_option("--perfetto", o->perfetto, "also write a Perfetto/Chrome timeline of the trace to OUT at the end")
      ->option_text("OUT");
  cmd->add_option("--duration", o->duration_s,
                  "stop after S seconds (0 = until Ctrl-C or the workload's exit; a workload gets SIGTERM)")
      ->option_text("S");
  cmd->add_option("-p,--pid", o->pids, "record only these processes and their descendants (repeatable)");
  cmd->add_option("--linger", o->linger_s,
                  "seconds to keep recording after the workload exits (its KFD process is freed later, by a kworker)")
      ->capture_default_str();
  cmd->add_option("CMD", o->command,
                  "after --: the workload to start once the probes are attached; its process tree is recorded, "
                  "the recording stops when it exits, and its exit status is record's");
  add_session_options(cmd, o->session, o->ringbuf_kb);
  cmd->callback([o, &sel] { sel.run = [o] { return run_record(*o); }; });
}

}  // namespace gp::cli
