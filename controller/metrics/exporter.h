// Everything `--metrics-listen` serves, and its rendering (docs/deploy.md
// lists the metrics). Thread-safe: the tracing loop and the preemption loops
// update it, the HTTP server's thread renders it. Per-process series are
// pulled from a ProcessFactsSource at each scrape; each keeps its name and
// labels rendered since the process appeared, so a scrape of 1,000
// processes and 10,000 queues costs well under a millisecond
// (docs/performance.md).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attach/probe_status.h"
#include "bpf/events.h"
#include "metrics/exposition.h"
#include "metrics/process_facts.h"
#include "preempt/observer.h"

namespace gp::metrics {

// $NODE_NAME (the DaemonSet sets it from spec.nodeName), else the host name: the
// `hostname` label on every series, as AMD's device-metrics-exporter names it.
std::string default_hostname();

class Exporter {
 public:
  // command: "watch", "preempt", "agent" (gpreempt_build_info{command}).
  explicit Exporter(std::string command, std::string hostname = default_hostname());
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  const std::string& hostname() const { return hostname_; }

  // gpreempt_probe_attached: fixed once the session attached.
  void set_probes(const AttachReport& report);
  // Pulled on every scrape; nullptr: no per-process series. Must outlive the
  // exporter's use (stop the server first).
  void set_process_source(const ProcessFactsSource* source);

  // From the one thread that pumps events (no lock: relaxed atomics, one writer).
  void count_event(std::uint32_t kind) {
    if (kind < events_.size()) events_[kind].store(events_[kind].load(std::memory_order_relaxed) + 1,
                                                   std::memory_order_relaxed);
  }
  void set_lost(std::uint64_t total) { lost_.store(total, std::memory_order_relaxed); }

  // One in-kernel preemption measured by the latency programs.
  void observe_cwsr(std::string_view cause, double seconds);
  // One suspend_all()/resume_all(): detect_s = detection -> every SUSPEND returned;
  // ioctl_s = the slowest target's ioctl, when one was issued; ok = every target succeeded.
  void suspended(SuspendTrigger trigger, std::optional<double> detect_s, std::optional<double> ioctl_s, bool ok);
  void resumed(std::optional<double> ioctl_s);

  // The whole exposition into `out` (cleared first; its capacity is reused).
  void render(std::string& out);

  struct ScrapeStats {
    std::uint64_t scrapes = 0;
    double last_render_s = 0;
    std::size_t processes = 0, bytes = 0;
  };
  ScrapeStats scrape_stats() const;

 private:
  struct QueueSeries {
    std::uint32_t gpu = 0;
    std::uint8_t type = 0;
    std::uint32_t count = 0;
    std::string head;  // gpreempt_kfd_queues{...} 
  };
  struct ProcSeries {
    std::string comm, role, rule, pod_uid, container_id;  // what `pairs` was rendered from
    std::string pairs;                                     // hostname="..",pid="..",...
    std::vector<std::uint32_t> gpus;
    std::vector<std::string> info_heads;  // gpreempt_kfd_process_info{...,kfd_gpu_id=".."} per gpu
    std::vector<QueueSeries> queues;
    bool offline = false, suspended = false;
    double suspended_seconds = 0;
    std::array<std::uint64_t, kSuspendTriggers> suspends{};
    std::uint64_t generation = 0;
  };

  void sync_processes();  // mu_ held
  void render_processes(std::string& out) const;
  void render_node(std::string& out) const;
  std::string pairs(const Labels& extra) const;  // hostname + extra

  const std::string command_, hostname_;
  const Buckets buckets_;

  mutable std::mutex mu_;
  const ProcessFactsSource* source_ = nullptr;
  std::vector<ProcessFacts> facts_;  // reused between scrapes
  std::map<std::uint32_t, ProcSeries> procs_;
  std::uint64_t generation_ = 0;
  std::vector<std::string> probe_lines_;
  std::array<std::uint64_t, kSuspendTriggers> suspends_{};
  std::uint64_t suspend_failures_ = 0, resumes_ = 0;
  std::map<SuspendTrigger, Histogram> detect_;
  Histogram suspend_ioctl_, resume_ioctl_;
  std::map<std::string, Histogram, std::less<>> cwsr_;
  ScrapeStats stats_;

  std::array<std::atomic<std::uint64_t>, GP_EV_KIND_MAX> events_{};
  std::atomic<std::uint64_t> lost_{0};
};

}  // namespace gp::metrics
