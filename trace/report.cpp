#include "trace/report.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trace/histogram.h"

namespace gp::trace {

using nlohmann::json;

namespace {

// ---------------------------------------------------------------- intervals

using Intervals = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

Intervals merged(Intervals v) {
  std::sort(v.begin(), v.end());
  Intervals out;
  for (const auto& iv : v) {
    if (iv.second <= iv.first) continue;
    if (!out.empty() && iv.first <= out.back().second) out.back().second = std::max(out.back().second, iv.second);
    else out.push_back(iv);
  }
  return out;
}

std::uint64_t intersection_ns(const Intervals& a, const Intervals& b) {
  std::uint64_t total = 0;
  for (std::size_t i = 0, j = 0; i < a.size() && j < b.size();) {
    std::uint64_t lo = std::max(a[i].first, b[j].first), hi = std::min(a[i].second, b[j].second);
    if (hi > lo) total += hi - lo;
    (a[i].second < b[j].second) ? ++i : ++j;
  }
  return total;
}

Intervals queue_time(const TraceAnalysis& a, std::uint32_t pid, std::optional<std::uint32_t> gpu) {
  Intervals v;
  auto it = a.processes.find(pid);
  if (it == a.processes.end()) return v;
  for (std::size_t idx : it->second.lives) {
    const QueueLife& l = a.lives[idx];
    if (!gpu || l.attrs.gpu_id == *gpu) v.emplace_back(l.begin_ns, l.end_ns);
  }
  return merged(std::move(v));
}

std::vector<std::uint32_t> gpus_of(const TraceAnalysis& a, std::uint32_t pid) {
  std::set<std::uint32_t> g;
  for (std::size_t idx : a.processes.at(pid).lives) g.insert(a.lives[idx].attrs.gpu_id);
  return {g.begin(), g.end()};
}

std::vector<std::uint32_t> common(const std::vector<std::uint32_t>& x, const std::vector<std::uint32_t>& y) {
  std::vector<std::uint32_t> out;
  std::set_intersection(x.begin(), x.end(), y.begin(), y.end(), std::back_inserter(out));
  return out;
}

// ------------------------------------------------------------- aggregation

struct Pair {
  std::uint32_t a = 0, b = 0;
  std::uint64_t overlap_ns = 0;
  std::vector<std::uint32_t> shared_qids;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> gpus;  // gpu, both-live ns
};

std::vector<Pair> overlapping_pairs(const TraceAnalysis& a) {
  std::vector<Pair> out;
  for (auto i = a.processes.begin(); i != a.processes.end(); ++i) {
    for (auto j = std::next(i); j != a.processes.end(); ++j) {
      if (i->second.lives.empty() || j->second.lives.empty()) continue;
      Pair p{i->first, j->first, concurrent_ns(a, i->first, j->first), {}, {}};
      if (p.overlap_ns == 0) continue;
      p.shared_qids = common(i->second.qids, j->second.qids);
      for (std::uint32_t g : common(gpus_of(a, i->first), gpus_of(a, j->first)))
        if (auto ns = concurrent_ns(a, i->first, j->first, g)) p.gpus.emplace_back(g, ns);
      out.push_back(std::move(p));
    }
  }
  return out;
}

struct Latencies {
  std::vector<std::uint64_t> total, firmware;
  std::uint64_t victims = 0, collateral = 0;
};

struct PreemptStats {
  std::size_t count = 0, early = 0;
  std::map<std::string, Latencies> by_cause;  // packet sent only
  Latencies all;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> collateral;  // (pid, qid) -> hits
};

PreemptStats preempt_stats(const TraceAnalysis& a) {
  PreemptStats s;
  for (const auto& p : a.preemptions) {
    ++s.count;
    if (!p.info.packet_sent) {
      ++s.early;
      continue;
    }
    // An MES add_hw_queue span is a map, not a preemption: its own row.
    std::string label = std::string(gp::to_string(p.cause)) + (p.info.mes_add ? " (map)" : "");
    for (Latencies* l : {&s.by_cause[label], &s.all}) {
      l->total.push_back(p.total_ns());
      if (auto fw = p.firmware_ns()) l->firmware.push_back(fw);
      l->victims += p.victims.size();
      for (const auto& v : p.victims) l->collateral += v.collateral;
    }
    for (const auto& v : p.victims)
      if (v.collateral) ++s.collateral[{v.pid, v.qid}];
  }
  return s;
}

std::map<QueueState, std::uint64_t> time_in_states(const QueueLife& l) {
  std::map<QueueState, std::uint64_t> t;
  for (const auto& s : l.spans) t[s.state] += s.duration_ns();
  return t;
}

// A run of one program: the queue ids one process used in one file.
struct Run {
  std::size_t trace = 0;
  std::uint32_t pid = 0;
  std::vector<std::uint32_t> qids;
};

std::map<std::string, std::vector<Run>> runs_by_program(const std::vector<TraceAnalysis>& runs) {
  std::map<std::string, std::vector<Run>> out;
  for (std::size_t t = 0; t < runs.size(); ++t)
    for (const auto& [pid, p] : runs[t].processes)
      if (!p.lives.empty()) out[p.program].push_back({t, pid, p.qids});
  return out;
}

bool all_same(const std::vector<Run>& v) {
  return std::all_of(v.begin(), v.end(), [&](const Run& r) { return r.qids == v.front().qids; });
}

// Union of a program's ids over all its runs.
std::vector<std::uint32_t> ids_of(const std::vector<Run>& v) {
  std::set<std::uint32_t> s;
  for (const auto& r : v) s.insert(r.qids.begin(), r.qids.end());
  return {s.begin(), s.end()};
}

// ------------------------------------------------------------------- text

constexpr const char* kRule = "━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━";

class Text {
 public:
  template <typename... Args>
  void line(fmt::format_string<Args...> f, Args&&... args) {
    out_ += fmt::format(f, std::forward<Args>(args)...);
    out_ += '\n';
  }
  void blank() { out_ += '\n'; }
  void raw(const std::string& s) { out_ += s; }
  void box(const std::string& title) {
    line("╔════════════════════════════════════════════════════════╗");
    line("║  {:<54}║", title);
    line("╚════════════════════════════════════════════════════════╝");
    blank();
  }
  void section(const std::string& title) {
    line("{}", kRule);
    line("{}", title);
    line("{}", kRule);
    blank();
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string ids(const std::vector<std::uint32_t>& v) { return fmt::format("[{}]", fmt::join(v, ", ")); }
std::string secs(std::uint64_t ns) { return fmt::format("{:.6f} s", static_cast<double>(ns) / 1e9); }
std::string usecs(std::uint64_t ns) { return fmt::format("{:.1f}", static_cast<double>(ns) / 1e3); }
std::string plural(std::uint64_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

struct Clock {
  std::uint64_t start;
  std::string at(std::uint64_t ts) const {
    return ts >= start ? fmt::format("+{:.6f} s", static_cast<double>(ts - start) / 1e9)
                       : fmt::format("-{:.6f} s", static_cast<double>(start - ts) / 1e9);
  }
};

std::string who(const ProcessSummary& p) {
  return p.program == p.comm ? fmt::format("PID {} ({})", p.pid, p.comm)
                             : fmt::format("PID {} ({}: {})", p.pid, p.comm, p.program);
}

std::string who(const TraceAnalysis& a, std::uint32_t pid) {
  auto it = a.processes.find(pid);
  return it != a.processes.end() ? who(it->second) : fmt::format("PID {}", pid);
}

void text_header(Text& t, const TraceAnalysis& a, std::size_t index) {
  const Trace& tr = *a.trace;
  const Header& h = tr.header;
  t.line("Trace {}: {}", index + 1, tr.source);
  t.line("  host {}, kernel {}, KFD {}, tool {}", h.host, h.kernel, h.kfd_version.value_or("unknown"),
         h.tool_version);
  std::vector<std::string> gpus;
  for (const auto& g : h.gpus) gpus.push_back(g.name ? fmt::format("{} ({})", g.gpu_id, *g.name) : std::to_string(g.gpu_id));
  t.line("  GPUs: {}", gpus.empty() ? "none listed" : fmt::format("{}", fmt::join(gpus, ", ")));
  if (h.command) t.line("  command: {}", fmt::join(*h.command, " "));
  t.line("  duration {}, {}, {} lost", secs(a.end_ns - a.start_ns), plural(tr.events.size(), "event", "events"),
         tr.trailer ? tr.trailer->lost : 0);
  if (tr.truncated())
    t.line("  ⚠️ truncated: no trailer (the recorder did not finish); results end at the last event");
  if (tr.trailer && tr.trailer->lost)
    t.line("  ⚠️ {} lost: counts below may be incomplete", plural(tr.trailer->lost, "event was", "events were"));
  if (a.unmatched_removes)
    t.line("  ⚠️ {} of queues never seen created", plural(a.unmatched_removes, "remove", "removes"));
  t.blank();
}

void text_counts(Text& t, const TraceAnalysis& a, const Clock& c) {
  t.section("Analysis 1: queue count over time");
  for (const auto& [pid, p] : a.processes) {
    if (p.lives.empty()) continue;
    t.line("  {}:", who(p));
    for (const auto& [ts, n] : p.count.steps) t.line("    {}: {}", c.at(ts), plural(n, "queue", "queues"));
    t.blank();
    t.line("    mean queue count: {:.2f} (time-weighted, {} .. {})", p.count.mean, c.at(p.count.window_begin_ns),
           c.at(p.count.window_end_ns));
    t.line("    min queue count: {}", p.count.min);
    t.line("    max queue count: {}", p.count.max);
    if (p.stable())
      t.line("    ✅ queue count stable: all {} came before the first destroy",
             plural(p.creates, "create", "creates"));
    else
      t.line("    ⚠️ queue count not stable: {} after the first destroy",
             plural(p.creates_after_first_destroy, "queue was created", "queues were created"));
    t.blank();
  }
}

void text_ids(Text& t, const TraceAnalysis& a) {
  t.section("Analysis 2: queue ids");
  for (const auto& [pid, p] : a.processes) {
    if (p.lives.empty() && !p.failed_creates) continue;
    t.line("  {}: queue ids {} ({} unique, {} created, {} destroyed{})", who(p), ids(p.qids), p.qids.size(),
           p.creates, p.destroys, p.failed_creates ? fmt::format(", {} failed creates", p.failed_creates) : "");
  }
  t.blank();
}

void text_attributes(Text& t, const TraceAnalysis& a, const Clock& c) {
  t.section("Analysis 3: queue attributes and lifetimes");
  for (const auto& [pid, p] : a.processes) {
    for (std::size_t idx : p.lives) {
      const QueueLife& l = a.lives[idx];
      const gp_queue_info& q = l.attrs;
      t.line("  PID {} queue {} on gpu {}:", pid, q.qid, q.gpu_id);
      t.line("    type {} ({}), priority {}, percent {}, ring {} B", queue_type_name(q.type),
             queue_format_name(q.format), q.priority, q.percent, q.ring_size);
      t.line("    created {}, {} {} (lifetime {})",
             l.created_ns ? c.at(*l.created_ns) : "before the trace",
             l.destroyed_ns ? "destroyed" : "still alive at", c.at(l.end_ns), secs(l.end_ns - l.begin_ns));
      auto times = time_in_states(l);
      t.line("    time active {}, evicted {}, suspended {}, inactive {}{}", secs(times[QueueState::Active]),
             secs(times[QueueState::Evicted]), secs(times[QueueState::Suspended]),
             secs(times[QueueState::Inactive]), l.updates ? fmt::format(", {} updates", l.updates) : "");
    }
  }
  t.blank();
}

void text_lifecycle(Text& t, const TraceAnalysis& a, const Clock& c) {
  t.section("Analysis 4: lifecycle (order of creates and destroys)");
  if (a.lifecycle.empty()) t.line("  (no queue lifecycle events)");
  for (const auto& e : a.lifecycle) {
    std::string where = e.qid ? fmt::format("pid {} qid {}", e.pid, *e.qid) : fmt::format("pid {}", e.pid);
    if (e.gpu_id) where += fmt::format(" gpu {}", e.gpu_id);
    std::string row = fmt::format("  {:>14}  {:<15} {:<26} {}", c.at(e.ts_ns), e.what, where, e.detail);
    row.erase(row.find_last_not_of(' ') + 1);
    t.line("{}", row);
  }
  t.blank();
}

void text_states(Text& t, const TraceAnalysis& a, const Clock& c) {
  t.section("Analysis 5: evictions and suspensions");
  bool any = false;
  for (const QueueLife& l : a.lives) {
    for (QueueState s : {QueueState::Evicted, QueueState::Suspended}) {
      std::vector<const StateSpan*> spans;
      std::uint64_t total = 0, longest = 0;
      for (const auto& sp : l.spans)
        if (sp.state == s) {
          spans.push_back(&sp);
          total += sp.duration_ns();
          longest = std::max(longest, sp.duration_ns());
        }
      if (spans.empty()) continue;
      any = true;
      t.line("  PID {} queue {}: {} {}, total {}, longest {}", l.pid, l.attrs.qid, to_string(s),
             plural(spans.size(), "time", "times"), secs(total), secs(longest));
      for (const StateSpan* sp : spans)
        t.line("    {} for {} (cause {}, ended by {})", c.at(sp->begin_ns), secs(sp->duration_ns()),
               gp::to_string(sp->cause), to_string(sp->ended_by));
    }
  }
  if (!any) t.line("  ✅ no queue was evicted or suspended");
  t.blank();
}

void text_overlap(Text& t, const TraceAnalysis& a) {
  t.section("Analysis 6: overlap between processes");
  auto pairs = overlapping_pairs(a);
  if (pairs.empty()) t.line("  no two processes had queues at the same time");
  for (const auto& p : pairs) {
    t.line("  {} and {}: both had queues for {}", who(a, p.a), who(a, p.b), secs(p.overlap_ns));
    t.line("    PID {} queue ids: {}", p.a, ids(a.processes.at(p.a).qids));
    t.line("    PID {} queue ids: {}", p.b, ids(a.processes.at(p.b).qids));
    t.line("    ids used by both: {}", ids(p.shared_qids));
    if (!p.shared_qids.empty())
      t.line("    note: KFD queue ids are per process; the same id in two processes names two queues");
    for (const auto& [gpu, ns] : p.gpus) t.line("    both on gpu {} for {}", gpu, secs(ns));
    t.blank();
  }
  if (pairs.empty()) t.blank();
}

void text_percentile_row(Text& t, const std::string& label, const Latencies& l) {
  t.line("  {:<14} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>10}", label, l.total.size(),
         usecs(percentile(l.total, 50)), usecs(percentile(l.total, 90)), usecs(percentile(l.total, 99)),
         usecs(percentile(l.total, 100)), l.firmware.empty() ? "-" : usecs(percentile(l.firmware, 50)), l.victims,
         l.collateral);
}

void text_preemptions(Text& t, const TraceAnalysis& a) {
  t.section("Analysis 7: preemptions (in-kernel latency)");
  PreemptStats s = preempt_stats(a);
  if (s.count == 0) {
    t.line("  no preemptions recorded");
    t.blank();
    return;
  }
  t.line("  {}, {} without a packet (nothing was mapped)", plural(s.count, "preemption", "preemptions"), s.early);
  if (!s.all.total.empty()) {
    t.blank();
    t.line("  {:<14} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>10}", "cause", "count", "p50 us", "p90 us",
           "p99 us", "max us", "fw p50 us", "victims", "collateral");
    for (const auto& [cause, l] : s.by_cause) text_percentile_row(t, cause, l);
    if (s.by_cause.size() > 1) text_percentile_row(t, "all", s.all);
    t.blank();
    Log2Histogram h;
    for (auto ns : s.all.total) h.add(ns / 1000);
    t.line("  total preemption time, all causes:");
    t.raw(format_log2_hist(h, "usecs"));
  }
  if (!s.collateral.empty()) {
    t.blank();
    t.line("  collateral victims (queues of a process the cause did not act on):");
    for (const auto& [key, n] : s.collateral)
      t.line("    {} queue {}: {}", who(a, key.first), key.second == ~0u ? std::string("?") : std::to_string(key.second),
             plural(n, "preemption", "preemptions"));
  }
  if (a.unmatched_victims) t.line("  ⚠️ {} victim records without their preemption", a.unmatched_victims);
  t.blank();
}

void text_across_runs(Text& t, const std::vector<TraceAnalysis>& runs) {
  t.section("Across runs: are queue ids the same every time?");
  auto programs = runs_by_program(runs);
  for (const auto& [program, rs] : programs) {
    t.line("  {}:", program);
    for (std::size_t i = 0; i < rs.size(); ++i)
      t.line("    Run {} ({}, PID {}): queue ids = {}{}", i + 1, runs[rs[i].trace].trace->source, rs[i].pid,
             ids(rs[i].qids), i == 0 ? "" : rs[i].qids == rs[0].qids ? "  <- same" : "  <- different!");
    if (rs.size() < 2) t.line("    (one run only: nothing to compare)");
    else if (all_same(rs)) t.line("    ✅ queue ids identical in all {} runs: {}", rs.size(), ids(rs[0].qids));
    else {
      auto same = std::count_if(rs.begin(), rs.end(), [&](const Run& r) { return r.qids == rs[0].qids; });
      t.line("    ⚠️ queue ids differ: {}/{} runs match run 1; find them at run time", same, rs.size());
    }
    t.blank();
  }
  if (programs.size() > 1) {
    t.line("  Different programs:");
    for (auto i = programs.begin(); i != programs.end(); ++i)
      for (auto j = std::next(i); j != programs.end(); ++j) {
        auto shared = common(ids_of(i->second), ids_of(j->second));
        t.line("    {} {} vs {} {}: {}", i->first, ids(ids_of(i->second)), j->first, ids(ids_of(j->second)),
               shared.empty() ? std::string("no id in common") : "ids in common " + ids(shared));
      }
    t.blank();
  }
}

void text_summary(Text& t, const std::vector<TraceAnalysis>& runs) {
  t.box("Summary");
  for (const auto& a : runs) {
    for (const auto& [pid, p] : a.processes) {
      if (p.lives.empty()) continue;
      t.line("{} {} uses {} at once ({} in total), ids {}, count {}", p.stable() ? "✅" : "⚠️", who(p),
             plural(p.count.max, "queue", "queues"), p.lives.size(), ids(p.qids),
             p.stable() ? "stable" : "not stable");
    }
  }
  t.blank();
}

// ------------------------------------------------------------------- json

json latency_json(const std::vector<std::uint64_t>& v) {
  if (v.empty()) return nullptr;
  return {{"p50", percentile(v, 50)}, {"p90", percentile(v, 90)}, {"p99", percentile(v, 99)},
          {"max", percentile(v, 100)}};
}

json optional_ns(const std::optional<std::uint64_t>& v) { return v ? json(*v) : json(nullptr); }

json trace_json(const TraceAnalysis& a) {
  const Trace& tr = *a.trace;
  json processes = json::array();
  for (const auto& [pid, p] : a.processes) {
    json steps = json::array();
    for (const auto& [ts, n] : p.count.steps) steps.push_back({ts, n});
    processes.push_back({
        {"pid", pid},
        {"comm", p.comm},
        {"program", p.program},
        {"qids", p.qids},
        {"creates", p.creates},
        {"destroys", p.destroys},
        {"failed_creates", p.failed_creates},
        {"stable", p.stable()},
        {"creates_after_first_destroy", p.creates_after_first_destroy},
        {"queue_count",
         {{"min", p.count.min},
          {"mean", p.count.mean},
          {"max", p.count.max},
          {"window_begin_ns", p.count.window_begin_ns},
          {"window_end_ns", p.count.window_end_ns},
          {"steps", steps}}},
    });
  }
  json queues = json::array();
  for (const auto& l : a.lives) {
    json spans = json::array();
    for (const auto& s : l.spans)
      spans.push_back({{"state", to_string(s.state)},
                       {"begin_ns", s.begin_ns},
                       {"end_ns", s.end_ns},
                       {"cause", gp::to_string(s.cause)},
                       {"ended_by", to_string(s.ended_by)}});
    auto times = time_in_states(l);
    queues.push_back({
        {"pid", l.pid},
        {"qid", l.attrs.qid},
        {"gpu_id", l.attrs.gpu_id},
        {"type", queue_type_name(l.attrs.type)},
        {"format", queue_format_name(l.attrs.format)},
        {"priority", l.attrs.priority},
        {"percent", l.attrs.percent},
        {"ring_size", l.attrs.ring_size},
        {"created_ns", optional_ns(l.created_ns)},
        {"destroyed_ns", optional_ns(l.destroyed_ns)},
        {"begin_ns", l.begin_ns},
        {"end_ns", l.end_ns},
        {"ended_by", to_string(l.ended_by)},
        {"updates", l.updates},
        {"time_ns",
         {{"active", times[QueueState::Active]},
          {"evicted", times[QueueState::Evicted]},
          {"suspended", times[QueueState::Suspended]},
          {"inactive", times[QueueState::Inactive]}}},
        {"spans", spans},
    });
  }
  json lifecycle = json::array();
  for (const auto& e : a.lifecycle)
    lifecycle.push_back({{"ts_ns", e.ts_ns},
                         {"what", e.what},
                         {"pid", e.pid},
                         {"qid", e.qid ? json(*e.qid) : json(nullptr)},
                         {"gpu_id", e.gpu_id},
                         {"detail", e.detail}});
  json overlaps = json::array();
  for (const auto& p : overlapping_pairs(a)) {
    json gpus = json::array();
    for (const auto& [g, ns] : p.gpus) gpus.push_back({{"gpu_id", g}, {"overlap_ns", ns}});
    overlaps.push_back(
        {{"pids", {p.a, p.b}}, {"overlap_ns", p.overlap_ns}, {"shared_qids", p.shared_qids}, {"gpus", gpus}});
  }
  PreemptStats s = preempt_stats(a);
  json by_cause = json::array();
  for (const auto& [cause, l] : s.by_cause)
    by_cause.push_back({{"cause", cause},
                        {"count", l.total.size()},
                        {"total_ns", latency_json(l.total)},
                        {"firmware_ns", latency_json(l.firmware)},
                        {"victims", l.victims},
                        {"collateral", l.collateral}});
  json collateral = json::array();
  for (const auto& [key, n] : s.collateral)
    collateral.push_back({{"pid", key.first}, {"qid", key.second == ~0u ? json(nullptr) : json(key.second)}, {"preemptions", n}});
  return {
      {"source", tr.source},
      {"host", tr.header.host},
      {"kernel", tr.header.kernel},
      {"kfd_version", tr.header.kfd_version ? json(*tr.header.kfd_version) : json(nullptr)},
      {"command", tr.header.command ? json(*tr.header.command) : json(nullptr)},
      {"truncated", tr.truncated()},
      {"events", tr.events.size()},
      {"lost", tr.trailer ? tr.trailer->lost : 0},
      {"start_ns", a.start_ns},
      {"end_ns", a.end_ns},
      {"unmatched_removes", a.unmatched_removes},
      {"unmatched_victims", a.unmatched_victims},
      {"processes", processes},
      {"queues", queues},
      {"lifecycle", lifecycle},
      {"overlaps", overlaps},
      {"preemptions",
       {{"count", s.count},
        {"without_packet", s.early},
        {"by_cause", by_cause},
        {"all", {{"total_ns", latency_json(s.all.total)}, {"firmware_ns", latency_json(s.all.firmware)}}},
        {"collateral", collateral}}},
  };
}

}  // namespace

std::uint64_t concurrent_ns(const TraceAnalysis& a, std::uint32_t pid_a, std::uint32_t pid_b,
                            std::optional<std::uint32_t> gpu_id) {
  return intersection_ns(queue_time(a, pid_a, gpu_id), queue_time(a, pid_b, gpu_id));
}

std::string report_text(const std::vector<TraceAnalysis>& runs) {
  Text t;
  t.box("GPU queue report (gpreempt-bpf)");
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const TraceAnalysis& a = runs[i];
    Clock c{a.start_ns};
    text_header(t, a, i);
    text_counts(t, a, c);
    text_ids(t, a);
    text_attributes(t, a, c);
    text_lifecycle(t, a, c);
    text_states(t, a, c);
    text_overlap(t, a);
    text_preemptions(t, a);
  }
  if (runs.size() > 1) text_across_runs(t, runs);
  text_summary(t, runs);
  return t.take();
}

json report_json(const std::vector<TraceAnalysis>& runs) {
  json traces = json::array();
  for (const auto& a : runs) traces.push_back(trace_json(a));
  json programs = json::array();
  auto by_program = runs_by_program(runs);
  for (const auto& [program, rs] : by_program) {
    json list = json::array();
    for (const auto& r : rs) list.push_back({{"source", runs[r.trace].trace->source}, {"pid", r.pid}, {"qids", r.qids}});
    programs.push_back({{"program", program}, {"runs", list}, {"qids_identical", all_same(rs)}, {"qids", ids_of(rs)}});
  }
  json compared = json::array();
  for (auto i = by_program.begin(); i != by_program.end(); ++i)
    for (auto j = std::next(i); j != by_program.end(); ++j)
      compared.push_back({{"programs", {i->first, j->first}}, {"shared_qids", common(ids_of(i->second), ids_of(j->second))}});
  return {{"format", "gpreempt-bpf-report"},
          {"version", 1},
          {"traces", traces},
          {"programs", programs},
          {"programs_compared", compared}};
}

}  // namespace gp::trace
