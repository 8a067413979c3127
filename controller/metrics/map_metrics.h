// The bindings that feed an Exporter, and the bundle watch and preempt serve
// with --metrics-listen:
//   TracingMetrics   an EventSink: events by kind, losses, CWSR preemption spans
//   PreemptMetrics   a PreemptObserver: suspensions by trigger, their timings
//   MapProcessFacts  a ProcessFactsSource built from the exact queue map
// The agent uses the first two as they are and hands its own per-process
// state over as a ProcessFactsSource (metrics/process_facts.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "attach/probe_status.h"
#include "metrics/exporter.h"
#include "metrics/process_facts.h"
#include "metrics/server.h"
#include "preempt/observer.h"
#include "tracing/event_sink.h"
#include "tracing/queue_map.h"

namespace gp::metrics {

// Per-process facts from the queue map: rebuilt on the loop thread when the
// map changed (refresh()), copied out on the scrape thread. A process's comm,
// pod and container are read from /proc once, when it first has a queue.
class MapProcessFacts final : public ProcessFactsSource {
 public:
  // role(pid) -> {role, rule}, asked once per process; empty: no roles (watch).
  using RoleOf = std::function<std::pair<std::string, std::string>(std::uint32_t pid)>;
  explicit MapProcessFacts(RoleOf role = {}, std::uint64_t min_interval_ns = 200'000'000);

  // Loop thread.
  void changed() { dirty_ = true; }
  // Rebuilds if the map changed since the last rebuild and min_interval has passed
  // (force: now, whatever changed).
  void refresh(const QueueMap& map, bool force = false);

  // Every offline process is suspended or resumed together (preempt's controller).
  void suspended(SuspendTrigger trigger, std::uint64_t at_ns);
  void resumed(std::uint64_t at_ns);

  void process_facts(std::vector<ProcessFacts>& out) const override;

 private:
  struct Identity {
    std::string comm, pod_uid, container_id, role, rule;
  };

  RoleOf role_;
  std::uint64_t min_interval_ns_;
  bool dirty_ = true;
  std::uint64_t last_ns_ = 0;
  std::unordered_map<std::uint32_t, Identity> ids_;  // loop thread only

  mutable std::mutex mu_;
  std::vector<ProcessFacts> facts_;
  bool suspended_ = false;
  std::uint64_t since_ns_ = 0, total_ns_ = 0;
  std::array<std::uint64_t, kSuspendTriggers> suspends_{};
};

class TracingMetrics final : public EventSink {
 public:
  // facts: told when the map changes; may be null (the agent).
  TracingMetrics(Exporter& exporter, MapProcessFacts* facts) : exporter_(exporter), facts_(facts) {}
  void on_event(const Event& ev, MapChange change, const QueueMap& map) override;
  void on_loss(std::uint64_t total) override;

 private:
  Exporter& exporter_;
  MapProcessFacts* facts_;
};

class PreemptMetrics final : public PreemptObserver {
 public:
  PreemptMetrics(Exporter& exporter, MapProcessFacts* facts) : exporter_(exporter), facts_(facts) {}
  void suspended(const SuspendCause& cause, const std::vector<TargetOp>& ops, std::uint64_t done_ns) override;
  void resumed(const std::vector<TargetOp>& ops, std::uint64_t done_ns) override;

 private:
  Exporter& exporter_;
  MapProcessFacts* facts_;
};

// watch's and preempt's --metrics-listen: construct it before the session, so
// a port in use stops the command before anything is attached; then
// attached(), add sink() to the session, set observer() on the controller,
// and call refresh() from the loop after each pump.
class MapMetrics {
 public:
  MapMetrics(const std::string& listen, std::string command, MapProcessFacts::RoleOf role = {});
  ~MapMetrics();

  void attached(const AttachReport& report) { exporter_.set_probes(report); }
  EventSink& sink() { return sink_; }
  PreemptObserver& observer() { return observer_; }
  void refresh(const QueueMap& map, bool force = false) { facts_.refresh(map, force); }
  std::string url() const { return server_->url(); }
  Exporter& exporter() { return exporter_; }

 private:
  Exporter exporter_;
  MapProcessFacts facts_;
  TracingMetrics sink_;
  PreemptMetrics observer_;
  std::unique_ptr<MetricsServer> server_;  // last: stops first
};

}  // namespace gp::metrics
