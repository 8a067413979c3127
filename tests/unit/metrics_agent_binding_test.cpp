// The agent's metrics binding (controller/metrics/agent_binding.h) against a
// stand-in with the shape of the agent's state snapshot (issue 20 part 1,
// controller/agent/state.h on the agent's branch): field names as there.
#include <sys/types.h>

#include <gtest/gtest.h>

#include "metrics/agent_binding.h"
#include "metrics_text.h"

namespace gp::test::agent_shape {

enum class Role { Online, Offline, Ignored };
inline std::string_view to_string(Role r) {
  return r == Role::Online ? "online" : r == Role::Offline ? "offline" : "ignored";
}

struct QueueCount {
  std::uint32_t gpu_id = 0;
  std::string type;
  std::uint32_t count = 0;
};

struct AgentProcessState {
  pid_t pid = 0;
  std::string comm;
  Role role = Role::Ignored;
  std::string rule, pod_uid, container_id, qos, runtime, cgroup;
  std::vector<std::uint32_t> gpu_ids;
  std::vector<QueueCount> queues;
  bool suspended = false;
  std::uint64_t suspended_since_ns = 0;
  double suspended_seconds = 0;
};

struct AgentState {
  std::vector<AgentProcessState> processes;
};

struct Agent {
  AgentState state;
  mutable int snapshots = 0;
  AgentState snapshot(std::uint64_t) const {
    ++snapshots;
    return state;
  }
};

}  // namespace gp::test::agent_shape

namespace gp::metrics {
namespace {

using namespace gp::test::agent_shape;

TEST(MetricsAgentBinding, SnapshotBecomesTheProcessSeries) {
  Agent agent;
  AgentProcessState on;
  on.pid = 100;
  on.comm = "vllm";
  on.role = Role::Online;
  on.rule = "hami-high";
  on.pod_uid = "55c6c714-b240-4dec-9a45-57b61696ab6e";
  on.gpu_ids = {41234, 0};
  on.queues = {{41234, "compute", 4}, {41234, "sdma", 1}};
  AgentProcessState off = on;
  off.pid = 200;
  off.comm = "train";
  off.role = Role::Offline;
  off.rule = "default";
  off.suspended = true;
  off.suspended_seconds = 3.5;
  agent.state.processes = {on, off};

  Exporter e("agent", "node-1");
  AgentFacts<Agent> facts(agent);
  e.set_process_source(&facts);
  agent_suspended(e, SuspendTrigger::Doorbell, 40'000, 110'000);
  agent_suspended(e, SuspendTrigger::Ctl, std::nullopt, 90'000);
  agent_suspended(e, SuspendTrigger::Poll, 500'000, 0);  // already held: no ioctl, no timing
  agent_resumed(e, 300'000);

  std::string out;
  e.render(out);
  EXPECT_EQ(agent.snapshots, 1);
  const auto x = test::parse_exposition(out);
  auto v = [&](const std::string& name, std::vector<std::pair<std::string, std::string>> l) {
    const auto* s = x.find(name, l);
    return s ? s->value : -1.0;
  };
  EXPECT_EQ(v("gpreempt_kfd_queues", {{"pid", "100"}, {"role", "online"}, {"rule", "hami-high"},
                                      {"queue_type", "compute"}, {"kfd_gpu_id", "41234"}}),
            4);
  EXPECT_EQ(v("gpreempt_kfd_queues", {{"pid", "100"}, {"queue_type", "sdma"}}), 1);
  EXPECT_EQ(x.find("gpreempt_kfd_process_info", {{"pid", "100"}, {"kfd_gpu_id", "0"}}), nullptr);
  EXPECT_EQ(v("gpreempt_offline_suspended", {{"pid", "200"}, {"comm", "train"}, {"role", "offline"}}), 1);
  EXPECT_EQ(v("gpreempt_offline_suspended_seconds_total", {{"pid", "200"}}), 3.5);
  EXPECT_EQ(x.find("gpreempt_offline_suspended", {{"pid", "100"}}), nullptr);
  EXPECT_EQ(v("gpreempt_suspend_total", {{"trigger", "doorbell"}}), 1);
  EXPECT_EQ(v("gpreempt_suspend_total", {{"trigger", "poll"}}), 1);
  EXPECT_EQ(v("gpreempt_suspend_total", {{"trigger", "ctl"}}), 1);
  EXPECT_DOUBLE_EQ(v("gpreempt_detect_to_suspend_seconds_sum", {{"trigger", "doorbell"}}), 150e-6);
  EXPECT_EQ(v("gpreempt_detect_to_suspend_seconds_count", {{"trigger", "poll"}}), 0);
  EXPECT_EQ(v("gpreempt_detect_to_suspend_seconds_count", {{"trigger", "ctl"}}), 0);
  EXPECT_EQ(v("gpreempt_suspend_ioctl_seconds_count", {}), 2);
  EXPECT_EQ(v("gpreempt_resume_ioctl_seconds_count", {}), 1);

  agent.state.processes.pop_back();  // the trainer exited
  e.render(out);
  EXPECT_EQ(test::parse_exposition(out).find("gpreempt_kfd_queues", {{"pid", "200"}}), nullptr);
}

}  // namespace
}  // namespace gp::metrics
