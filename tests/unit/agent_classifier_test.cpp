// The classifier on fake /proc and /sys/class/kfd trees with real path
// formats: what each rule key reads, pod identity, the GPUs KFD lists.
#include <gtest/gtest.h>

#include "agent_fake_procs.h"
#include "classify/classifier.h"

namespace {

using gp::Role;
using gp::test::FakeProc;

gp::Policy policy() {
  return gp::parse_policy(
      "version: 1\n"
      "default: ignored\n"
      "rules:\n"
      "  - {name: env-online, role: online, match: {env: {GPREEMPT_ROLE: online}}}\n"
      "  - {name: hami-high, role: online, match: {env: {AMD_TASK_PRIORITY: \"0\"}}}\n"
      "  - {name: hami-low, role: offline, match: {env: {AMD_TASK_PRIORITY: \"[1-9]*\"}}}\n"
      "  - {name: besteffort, role: offline, match: {cgroup: \"*kubepods-besteffort*\"}}\n"
      "  - {name: vllm, role: online, match: {exe: \"*/vllm\"}}\n"
      "  - {name: lab, role: offline, match: {uid: \"1000-1999\", comm: \"pt_main*\"}}\n",
      "test.yaml");
}

// kubernetes/kubernetes and containerd name these (docs/agent.md#pod-identity).
const char* kBesteffortPod =
    "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1e597579_417e_482f_bf65_5fe170c3aebd.slice/"
    "cri-containerd-a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e.scope\n";

}  // namespace

TEST(AgentClassifier, ReadsEveryFactARuleLooksAt) {
  gp::test::FakeRoot root;
  const auto p = policy();
  add_fake_proc(root, FakeProc{.pid = 4101, .env = {{"GPREEMPT_ROLE", "online"}}, .gpus = {41234}});
  add_fake_proc(root, FakeProc{.pid = 4102, .env = {{"AMD_TASK_PRIORITY", "0"}, {"PATH", "/bin"}}});
  add_fake_proc(root, FakeProc{.pid = 4103, .env = {{"AMD_TASK_PRIORITY", "2"}}});
  add_fake_proc(root, FakeProc{.pid = 4104, .cgroup = kBesteffortPod});
  add_fake_proc(root, FakeProc{.pid = 4105, .exe = "/opt/venv/bin/vllm"});
  add_fake_proc(root, FakeProc{.pid = 4106, .comm = "pt_main_thread", .uid = 1500});
  add_fake_proc(root, FakeProc{.pid = 4107, .comm = "pt_main_thread", .uid = 2500});

  auto c = gp::classify_process(p, 4101);
  EXPECT_FALSE(c.gone);
  EXPECT_EQ(c.verdict.role, Role::Online);
  EXPECT_EQ(c.rule, "env-online");
  EXPECT_EQ(gp::classify_process(p, 4102).rule, "hami-high");
  EXPECT_EQ(gp::classify_process(p, 4103).rule, "hami-low");
  c = gp::classify_process(p, 4104);
  EXPECT_EQ(c.rule, "besteffort");
  EXPECT_EQ(c.verdict.role, Role::Offline);
  EXPECT_EQ(c.identity.pod_uid, "1e597579-417e-482f-bf65-5fe170c3aebd");
  EXPECT_EQ(c.identity.container_id, "a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e");
  EXPECT_EQ(c.identity.qos, "besteffort");
  EXPECT_EQ(c.identity.runtime, "containerd");
  EXPECT_EQ(gp::classify_process(p, 4105).rule, "vllm");
  EXPECT_EQ(gp::classify_process(p, 4106).rule, "lab");
  c = gp::classify_process(p, 4107);
  EXPECT_EQ(c.rule, "default");
  EXPECT_EQ(c.verdict.role, Role::Ignored);
}

TEST(AgentClassifier, AnUnreadableEnvironmentIsSaidAndNeverGuessed) {
  gp::test::FakeRoot root;
  const auto p = policy();
  add_fake_proc(root, FakeProc{.pid = 4201, .cgroup = kBesteffortPod, .environ_readable = false});
  auto c = gp::classify_process(p, 4201);
  EXPECT_TRUE(c.verdict.env_unknown);
  EXPECT_EQ(c.rule, "besteffort");  // the rules on env were skipped, the cgroup rule decided
  EXPECT_NE(gp::verdict_notes(p, c).find("environ unreadable"), std::string::npos) << gp::verdict_notes(p, c);
}

TEST(AgentClassifier, TwoMatchingRulesAreNamedInTheNotes) {
  gp::test::FakeRoot root;
  const auto p = policy();
  add_fake_proc(root, FakeProc{.pid = 4301, .env = {{"AMD_TASK_PRIORITY", "0"}}, .cgroup = kBesteffortPod});
  auto c = gp::classify_process(p, 4301);
  EXPECT_EQ(c.rule, "hami-high");
  EXPECT_EQ(gp::verdict_notes(p, c),
            "also matches \"besteffort\" (offline): the first matching rule wins");
}

TEST(AgentClassifier, AProcessThatIsGoneIsSaidToBe) {
  gp::test::FakeRoot root;
  root.mkdir("/proc");
  EXPECT_TRUE(gp::classify_process(policy(), 4999).gone);
}

TEST(AgentClassifier, KfdProcessesAndTheirGpus) {
  gp::test::FakeRoot root;
  add_fake_proc(root, FakeProc{.pid = 4401, .gpus = {41234, 9876}});
  add_fake_proc(root, FakeProc{.pid = 4402});
  add_fake_proc(root, FakeProc{.pid = 4403, .kfd = false});
  EXPECT_EQ(gp::kfd_pids(), (std::vector<pid_t>{4401, 4402}));
  EXPECT_EQ(gp::all_pids(), (std::vector<pid_t>{4401, 4402, 4403}));
  EXPECT_EQ(gp::kfd_gpus_of(4401), (std::vector<std::uint32_t>{9876, 41234}));
  EXPECT_TRUE(gp::kfd_gpus_of(4402).empty());  // no GPU node (the VM tier): group 0
  EXPECT_TRUE(gp::kfd_gpus_of(4403).empty());
}
