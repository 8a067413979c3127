// The agent's metrics binding, written against the shape of the agent's state
// snapshot (issue 20 part 1: `AgentState snapshot(now) const` with
// `processes[]` of pid, comm, role, rule, pod_uid, container_id, gpu_ids,
// queues {gpu_id, type name, count}, suspended, suspended_seconds) and of its
// observer's on_suspend/on_resume, without including it: templates, so this
// layer does not depend on the agent's. tests/unit/metrics_agent_binding_test.cpp
// drives them with a stand-in of that shape.
//
// Wiring (cli/agent.cpp), in this order so a port in use stops the agent before
// anything is attached:
//   metrics::Exporter exporter("agent");
//   metrics::MetricsServer server(metrics::parse_listen_address(listen), exporter);
//   metrics::AgentFacts<AgentCore> facts(core);           exporter.set_process_source(&facts);
//   metrics::TracingMetrics sink(exporter, nullptr);      session.add_sink(&sink);
//   exporter.set_probes(session.attach_report());
//   AgentObserver::on_suspend -> metrics::agent_suspended(exporter, ...), on_resume -> agent_resumed
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "metrics/exporter.h"
#include "metrics/process_facts.h"
#include "trace/event.h"

namespace gp::metrics {

// One AgentState's processes as ProcessFacts (out's elements are reused).
template <class State>
void facts_from_agent_state(const State& state, std::vector<ProcessFacts>& out) {
  out.resize(state.processes.size());
  for (std::size_t i = 0; i < state.processes.size(); ++i) {
    const auto& p = state.processes[i];
    ProcessFacts& f = out[i];
    f.pid = static_cast<std::uint32_t>(p.pid);
    f.comm = p.comm;
    f.role = std::string(to_string(p.role));  // the agent's Role: online, offline, ignored
    f.rule = p.rule;
    f.pod_uid = p.pod_uid;
    f.container_id = p.container_id;
    f.kfd_gpu_ids.clear();
    for (auto g : p.gpu_ids)
      if (g) f.kfd_gpu_ids.push_back(g);  // 0: the agent does not know the GPU yet
    f.queues.clear();
    for (const auto& q : p.queues)
      f.queues.push_back({q.gpu_id, queue_type_from_name(q.type).value_or(GP_QTYPE_UNKNOWN), q.count});
    f.suspended = p.suspended;
    f.suspended_seconds = p.suspended_seconds;
    f.suspends = {};  // the snapshot has no per-process counts: gpreempt_suspend_total has the node's
  }
}

// The agent's snapshot as a ProcessFactsSource, taken at each scrape.
template <class Agent>
class AgentFacts final : public ProcessFactsSource {
 public:
  explicit AgentFacts(const Agent& agent) : agent_(agent) {}
  void process_facts(std::vector<ProcessFacts>& out) const override {
    facts_from_agent_state(agent_.snapshot(monotonic_ns()), out);
  }

 private:
  const Agent& agent_;
};

// AgentObserver::on_suspend: detect_ns is demand -> decision (exact for a
// doorbell, a bound for polling, absent for ctl); the suspension is complete
// once the slowest SUSPEND returned, ioctl_ns later (0: no ioctl was needed).
inline void agent_suspended(Exporter& e, SuspendTrigger trigger, std::optional<std::uint64_t> detect_ns,
                            std::uint64_t ioctl_ns) {
  std::optional<double> detect, ioctl;
  if (ioctl_ns) ioctl = static_cast<double>(ioctl_ns) / 1e9;
  if (detect_ns && ioctl_ns) detect = static_cast<double>(*detect_ns + ioctl_ns) / 1e9;
  e.suspended(trigger, detect, ioctl, true);
}

inline void agent_resumed(Exporter& e, std::uint64_t ioctl_ns) {
  e.resumed(ioctl_ns ? std::optional<double>(static_cast<double>(ioctl_ns) / 1e9) : std::nullopt);
}

}  // namespace gp::metrics
