#include "metrics/map_metrics.h"

#include <algorithm>
#include <optional>
#include <tuple>

#include "base/clock.h"
#include "base/host_paths.h"
#include "base/proc.h"
#include "classify/cgroup_identity.h"
#include "latency/stats.h"
#include "trace/event.h"

namespace gp::metrics {

namespace {

// /proc/PID/cgroup under proc_root() (tests fake it); nothing when the process is gone.
CgroupIdentity cgroup_of(std::uint32_t pid) {
  std::string text;
  if (!read_text_file(proc_root() + "/" + std::to_string(pid) + "/cgroup", text)) return {};
  return parse_cgroup(text);
}

}  // namespace

MapProcessFacts::MapProcessFacts(RoleOf role, std::uint64_t min_interval_ns)
    : role_(std::move(role)), min_interval_ns_(min_interval_ns) {}

void MapProcessFacts::refresh(const QueueMap& map, bool force) {
  const std::uint64_t now = monotonic_ns();
  if (!force && (!dirty_ || now - last_ns_ < min_interval_ns_)) return;
  dirty_ = false;
  last_ns_ = now;

  std::vector<ProcessFacts> facts;
  for (const QueueEntry& e : map.all()) {  // sorted by tgid
    if (facts.empty() || facts.back().pid != e.tgid) {
      facts.emplace_back();
      facts.back().pid = e.tgid;
    }
    auto& qs = facts.back().queues;
    auto it = std::find_if(qs.begin(), qs.end(), [&](const QueueCount& q) {
      return q.kfd_gpu_id == e.info.gpu_id && q.queue_type == e.info.type;
    });
    if (it == qs.end()) qs.push_back({e.info.gpu_id, e.info.type, 1});
    else ++it->count;
  }
  std::unordered_map<std::uint32_t, Identity> ids;
  for (auto& f : facts) {
    std::sort(f.queues.begin(), f.queues.end(), [](const QueueCount& a, const QueueCount& b) {
      return std::tie(a.kfd_gpu_id, a.queue_type) < std::tie(b.kfd_gpu_id, b.queue_type);
    });
    for (const auto& q : f.queues)
      if (f.kfd_gpu_ids.empty() || f.kfd_gpu_ids.back() != q.kfd_gpu_id) f.kfd_gpu_ids.push_back(q.kfd_gpu_id);
    auto old = ids_.find(f.pid);
    Identity id;
    if (old != ids_.end()) {
      id = std::move(old->second);
    } else {
      id.comm = comm_of(static_cast<pid_t>(f.pid)).value_or("?");
      const CgroupIdentity cg = cgroup_of(f.pid);
      id.pod_uid = cg.pod_uid;
      id.container_id = cg.container_id;
      if (role_) std::tie(id.role, id.rule) = role_(f.pid);
    }
    f.comm = id.comm;
    f.pod_uid = id.pod_uid;
    f.container_id = id.container_id;
    f.role = id.role;
    f.rule = id.rule;
    ids.emplace(f.pid, std::move(id));
  }
  ids_ = std::move(ids);  // processes without queues are forgotten (a reused pid is read again)

  std::lock_guard lock(mu_);
  facts_ = std::move(facts);
}

void MapProcessFacts::suspended(SuspendTrigger trigger, std::uint64_t at_ns) {
  std::lock_guard lock(mu_);
  ++suspends_[static_cast<std::size_t>(trigger)];
  if (!suspended_) since_ns_ = at_ns;
  suspended_ = true;
}

void MapProcessFacts::resumed(std::uint64_t at_ns) {
  std::lock_guard lock(mu_);
  if (suspended_ && at_ns > since_ns_) total_ns_ += at_ns - since_ns_;
  suspended_ = false;
}

void MapProcessFacts::process_facts(std::vector<ProcessFacts>& out) const {
  const std::uint64_t now = monotonic_ns();
  std::lock_guard lock(mu_);
  out.resize(facts_.size());
  const double seconds =
      static_cast<double>(total_ns_ + (suspended_ && now > since_ns_ ? now - since_ns_ : 0)) / 1e9;
  for (std::size_t i = 0; i < facts_.size(); ++i) {
    out[i] = facts_[i];
    if (out[i].role == "offline") {
      out[i].suspended = suspended_;
      out[i].suspended_seconds = seconds;
      out[i].suspends = suspends_;
    }
  }
}

void TracingMetrics::on_event(const Event& ev, MapChange change, const QueueMap&) {
  exporter_.count_event(ev.raw.kind);
  if (facts_ && change != MapChange::None && change != MapChange::Ignored) facts_->changed();
  if (ev.kind() != EventKind::Preempt) return;
  const auto& pre = ev.raw.pre;
  // As `latency` histograms them: a HWS unmap that sent nothing did no work to
  // time, and a MES add_hw_queue maps a queue rather than preempting one.
  if ((!pre.mes && !pre.packet_sent) || (pre.mes && pre.mes_add)) return;
  exporter_.observe_cwsr(to_string(ev.cause()), static_cast<double>(latency::total_ns(pre)) / 1e9);
}

void TracingMetrics::on_loss(std::uint64_t total) {
  exporter_.set_lost(total);
  if (facts_) facts_->changed();  // the map is re-read from sysfs
}

void PreemptMetrics::suspended(const SuspendCause& cause, const std::vector<TargetOp>& ops, std::uint64_t done_ns) {
  const OpTally t = tally_ops(ops);
  std::optional<double> detect, ioctl;
  if (t.issued) {
    ioctl = static_cast<double>(t.slowest_ioctl_ns) / 1e9;
    // Only a suspension that did something measures the path; one with no
    // offline queue to suspend would show as instant.
    if (t.ok && cause.detected_ns && done_ns >= cause.detected_ns)
      detect = static_cast<double>(done_ns - cause.detected_ns) / 1e9;
  }
  exporter_.suspended(cause.trigger, detect, ioctl, t.ok);
  if (facts_) facts_->suspended(cause.trigger, done_ns);
}

void PreemptMetrics::resumed(const std::vector<TargetOp>& ops, std::uint64_t done_ns) {
  const OpTally t = tally_ops(ops);
  exporter_.resumed(t.issued ? std::optional<double>(static_cast<double>(t.slowest_ioctl_ns) / 1e9) : std::nullopt);
  if (facts_) facts_->resumed(done_ns);
}

MapMetrics::MapMetrics(const std::string& listen, std::string command, MapProcessFacts::RoleOf role)
    : exporter_(std::move(command)), facts_(std::move(role)), sink_(exporter_, &facts_),
      observer_(exporter_, &facts_) {
  server_ = std::make_unique<MetricsServer>(parse_listen_address(listen), exporter_);
  exporter_.set_process_source(&facts_);
}

MapMetrics::~MapMetrics() {
  server_.reset();  // no scrape runs past this point
  exporter_.set_process_source(nullptr);
}

}  // namespace gp::metrics
