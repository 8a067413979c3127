#include "metrics/exporter.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <tuple>

#include "base/clock.h"
#include "trace/event.h"

namespace gp::metrics {

namespace {

// 10 us .. 10 s: an ioctl or a detection takes tens of us to ms; a CWSR
// preemption that hits the fence timeout takes ~9 s.
std::vector<double> default_bounds() {
  return {10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3,
          10e-3, 25e-3, 50e-3, 0.1,    0.25,   0.5,    1,    2.5,    10};
}

std::string u32(std::uint32_t v) { return std::to_string(v); }

constexpr std::array<SuspendTrigger, kSuspendTriggers> kTriggers{SuspendTrigger::Doorbell, SuspendTrigger::Poll,
                                                                 SuspendTrigger::Ctl, SuspendTrigger::Cycles};

}  // namespace

std::string default_hostname() {
  if (const char* n = std::getenv("NODE_NAME"); n && *n) return n;
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) == 0 && buf[0]) return buf;
  return "";
}

Exporter::Exporter(std::string command, std::string hostname)
    : command_(std::move(command)), hostname_(std::move(hostname)), buckets_(default_bounds()),
      suspend_ioctl_(buckets_), resume_ioctl_(buckets_) {
  // The automatic mode's and the control socket's triggers exist from the start, so
  // rate() and histogram_quantile() see a series before the first suspension.
  for (auto t : {SuspendTrigger::Doorbell, SuspendTrigger::Poll, SuspendTrigger::Ctl})
    detect_.emplace(t, Histogram(buckets_));
}

std::string Exporter::pairs(const Labels& extra) const {
  Labels all{{"hostname", hostname_}};
  all.insert(all.end(), extra.begin(), extra.end());
  std::string out;
  append_label_pairs(out, all);
  return out;
}

void Exporter::set_probes(const AttachReport& report) {
  // One series per (symbol, mechanism): an entry and a return program of one
  // function are two; attached if any program of that pair is.
  std::map<std::tuple<std::string, std::string, std::string, bool>, bool> seen;
  for (const auto& p : report.probes) {
    auto& a = seen[{p.spec.symbol, std::string(to_string(p.mechanism)), p.group, p.spec.required}];
    a = a || p.attached;
  }
  std::vector<std::string> lines;
  for (const auto& [key, attached] : seen) {
    const auto& [symbol, mechanism, group, required] = key;
    std::string line = "gpreempt_probe_attached{";
    line += pairs({{"symbol", symbol}, {"mechanism", mechanism}, {"group", group},
                   {"required", required ? "true" : "false"}});
    line += attached ? "} 1\n" : "} 0\n";
    lines.push_back(std::move(line));
  }
  std::lock_guard lock(mu_);
  probe_lines_ = std::move(lines);
}

void Exporter::set_process_source(const ProcessFactsSource* source) {
  std::lock_guard lock(mu_);
  source_ = source;
  if (!source_) procs_.clear();
}

void Exporter::observe_cwsr(std::string_view cause, double seconds) {
  std::lock_guard lock(mu_);
  auto it = cwsr_.find(cause);
  if (it == cwsr_.end()) it = cwsr_.emplace(std::string(cause), Histogram(buckets_)).first;
  it->second.observe(seconds);
}

void Exporter::suspended(SuspendTrigger trigger, std::optional<double> detect_s, std::optional<double> ioctl_s,
                         bool ok) {
  std::lock_guard lock(mu_);
  ++suspends_[static_cast<std::size_t>(trigger)];
  if (!ok) ++suspend_failures_;
  if (detect_s) detect_.try_emplace(trigger, buckets_).first->second.observe(*detect_s);
  if (ioctl_s) suspend_ioctl_.observe(*ioctl_s);
}

void Exporter::resumed(std::optional<double> ioctl_s) {
  std::lock_guard lock(mu_);
  ++resumes_;
  if (ioctl_s) resume_ioctl_.observe(*ioctl_s);
}

void Exporter::sync_processes() {
  if (!source_) return;
  source_->process_facts(facts_);
  const std::uint64_t gen = ++generation_;
  for (const auto& f : facts_) {
    auto [it, fresh] = procs_.try_emplace(f.pid);
    ProcSeries& p = it->second;
    if (fresh || p.comm != f.comm || p.role != f.role || p.rule != f.rule || p.pod_uid != f.pod_uid ||
        p.container_id != f.container_id) {
      p.comm = f.comm;
      p.role = f.role;
      p.rule = f.rule;
      p.pod_uid = f.pod_uid;
      p.container_id = f.container_id;
      p.pairs = pairs({{"pid", u32(f.pid)}, {"comm", f.comm}, {"role", f.role}, {"rule", f.rule},
                       {"pod_uid", f.pod_uid}, {"container_id", f.container_id}});
      p.gpus.clear();
      p.info_heads.clear();
      p.queues.clear();
    }
    // The GPUs it uses: the ones given, and any it has queues on.
    std::vector<std::uint32_t> gpus = f.kfd_gpu_ids;
    for (const auto& q : f.queues) gpus.push_back(q.kfd_gpu_id);
    std::sort(gpus.begin(), gpus.end());
    gpus.erase(std::unique(gpus.begin(), gpus.end()), gpus.end());
    if (gpus != p.gpus || p.info_heads.empty()) {
      p.gpus = gpus;
      p.info_heads.clear();
      if (gpus.empty()) gpus.push_back(0);
      for (auto g : gpus) {
        std::string h = "gpreempt_kfd_process_info{" + p.pairs + ",kfd_gpu_id=\"";
        if (!p.gpus.empty()) h += u32(g);
        h += "\"} 1\n";
        p.info_heads.push_back(std::move(h));
      }
    }
    bool same = p.queues.size() == f.queues.size();
    for (std::size_t i = 0; same && i < f.queues.size(); ++i)
      same = p.queues[i].gpu == f.queues[i].kfd_gpu_id && p.queues[i].type == f.queues[i].queue_type;
    if (!same) {
      p.queues.clear();
      for (const auto& q : f.queues) {
        QueueSeries s{q.kfd_gpu_id, q.queue_type, q.count, "gpreempt_kfd_queues{" + p.pairs + ",kfd_gpu_id=\""};
        s.head += u32(q.kfd_gpu_id);
        s.head += "\",queue_type=\"";
        append_escaped(s.head, queue_type_name(q.queue_type));
        s.head += "\"} ";
        p.queues.push_back(std::move(s));
      }
    } else {
      for (std::size_t i = 0; i < f.queues.size(); ++i) p.queues[i].count = f.queues[i].count;
    }
    p.offline = f.role == "offline";
    p.suspended = f.suspended;
    p.suspended_seconds = f.suspended_seconds;
    p.suspends = f.suspends;
    p.generation = gen;
  }
  std::erase_if(procs_, [gen](const auto& kv) { return kv.second.generation != gen; });
}

void Exporter::render_node(std::string& out) const {
  append_header(out, "gpreempt_build_info", "gpreempt-bpf version and the command serving these metrics", "gauge");
  out += "gpreempt_build_info{";
  out += pairs({{"version", GP_VERSION}, {"command", command_}});
  out += "} 1\n";

  append_header(out, "gpreempt_probe_attached",
                "1 if the KFD function's probe is attached with this mechanism (group lifecycle: the queue map; "
                "latency: preemption spans)",
                "gauge");
  for (const auto& l : probe_lines_) out += l;

  const std::string host = pairs({});
  append_header(out, "gpreempt_queue_events_total", "Queue lifecycle events decoded from the ring buffer, by kind",
                "counter");
  for (std::uint32_t k = 1; k < events_.size(); ++k) {
    auto name = to_string(static_cast<EventKind>(k));
    out += "gpreempt_queue_events_total{";
    out += host;
    out += ",kind=\"";
    out += name;
    out += "\"} ";
    append_u64(out, events_[k].load(std::memory_order_relaxed));
    out += '\n';
  }
  append_header(out, "gpreempt_events_lost_total",
                "Events the BPF side could not hand over (ring buffer full); each loss re-reads the map from sysfs",
                "counter");
  out += "gpreempt_events_lost_total{" + host + "} ";
  append_u64(out, lost_.load(std::memory_order_relaxed));
  out += '\n';

  append_header(out, "gpreempt_suspend_total",
                "Suspensions of the offline processes' queues, by what decided them (doorbell uprobe, pointer "
                "polling, a control-socket claim, --cycles)",
                "counter");
  for (auto t : kTriggers) {
    const auto n = suspends_[static_cast<std::size_t>(t)];
    if (t == SuspendTrigger::Cycles && !n) continue;  // a test mode: shown only when used
    out += "gpreempt_suspend_total{" + host + ",trigger=\"";
    out += to_string(t);
    out += "\"} ";
    append_u64(out, n);
    out += '\n';
  }
  append_header(out, "gpreempt_suspend_failures_total",
                "Suspensions where a target's SUSPEND failed (undone at once: every target resumed)", "counter");
  out += "gpreempt_suspend_failures_total{" + host + "} ";
  append_u64(out, suspend_failures_);
  out += '\n';
  append_header(out, "gpreempt_resume_total", "Resumptions of the offline processes' queues", "counter");
  out += "gpreempt_resume_total{" + host + "} ";
  append_u64(out, resumes_);
  out += '\n';

  append_header(out, "gpreempt_detect_to_suspend_seconds",
                "From the online work's detection (doorbell store: exact; pointer sample; claim arrival) to every "
                "offline queue suspended",
                "histogram");
  for (const auto& [t, h] : detect_) {
    std::string p = host + ",trigger=\"";
    p += to_string(t);
    p += '"';
    h.render(out, "gpreempt_detect_to_suspend_seconds", p);
  }
  append_header(out, "gpreempt_suspend_ioctl_seconds",
                "Time of the KFD debug-trap SUSPEND_QUEUES ioctl (the slowest target's, they run in parallel)",
                "histogram");
  suspend_ioctl_.render(out, "gpreempt_suspend_ioctl_seconds", host);
  append_header(out, "gpreempt_resume_ioctl_seconds",
                "Time of the KFD debug-trap RESUME_QUEUES ioctl (the slowest target's)", "histogram");
  resume_ioctl_.render(out, "gpreempt_resume_ioctl_seconds", host);

  append_header(out, "gpreempt_cwsr_preemption_seconds",
                "In-kernel preemptions (HWS unmap / MES remove, T0..T4 of docs/kfd-internals.md) measured by the "
                "latency probes, by cause",
                "histogram");
  for (const auto& [cause, h] : cwsr_) {
    std::string p = host + ",cause=\"";
    append_escaped(p, cause);
    p += '"';
    h.render(out, "gpreempt_cwsr_preemption_seconds", p);
  }

  append_header(out, "gpreempt_metrics_render_seconds", "Time the previous scrape took to render", "gauge");
  out += "gpreempt_metrics_render_seconds{" + host + "} ";
  append_value(out, stats_.last_render_s);
  out += '\n';
}

void Exporter::render_processes(std::string& out) const {
  if (!source_) return;
  append_header(out, "gpreempt_kfd_process_info",
                "1 per KFD process and GPU: its role, the policy rule that gave it, its pod and container", "gauge");
  for (const auto& [pid, p] : procs_)
    for (const auto& h : p.info_heads) out += h;

  append_header(out, "gpreempt_kfd_queues", "Live KFD user queues of the process, per GPU and queue type", "gauge");
  for (const auto& [pid, p] : procs_)
    for (const auto& q : p.queues) {
      out += q.head;
      append_u64(out, q.count);
      out += '\n';
    }

  append_header(out, "gpreempt_offline_suspended", "1 while the offline process's queues are held suspended",
                "gauge");
  for (const auto& [pid, p] : procs_) {
    if (!p.offline) continue;
    out += "gpreempt_offline_suspended{";
    out += p.pairs;
    out += p.suspended ? "} 1\n" : "} 0\n";
  }
  append_header(out, "gpreempt_offline_suspended_seconds_total",
                "Time the offline process's queues have been held suspended", "counter");
  for (const auto& [pid, p] : procs_) {
    if (!p.offline) continue;
    out += "gpreempt_offline_suspended_seconds_total{";
    out += p.pairs;
    out += "} ";
    append_value(out, p.suspended_seconds);
    out += '\n';
  }
  append_header(out, "gpreempt_offline_suspends_total", "Suspensions of the offline process, by trigger", "counter");
  for (const auto& [pid, p] : procs_) {
    if (!p.offline) continue;
    for (auto t : kTriggers) {
      const auto n = p.suspends[static_cast<std::size_t>(t)];
      if (!n) continue;
      out += "gpreempt_offline_suspends_total{";
      out += p.pairs;
      out += ",trigger=\"";
      out += to_string(t);
      out += "\"} ";
      append_u64(out, n);
      out += '\n';
    }
  }
}

void Exporter::render(std::string& out) {
  const std::uint64_t t0 = monotonic_ns();
  std::lock_guard lock(mu_);
  sync_processes();
  out.clear();
  render_node(out);
  render_processes(out);
  ++stats_.scrapes;
  stats_.processes = procs_.size();
  stats_.bytes = out.size();
  stats_.last_render_s = static_cast<double>(monotonic_ns() - t0) / 1e9;
}

Exporter::ScrapeStats Exporter::scrape_stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace gp::metrics
