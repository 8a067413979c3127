// The agent's core against a fake KFD client (inline executor: no ptrace), a
// fake event source and fake /proc and KFD sysfs trees: classification at
// start and on process_create, pairing per GPU, suspension on the online
// side's demand and resume when it is idle or gone, an offline process that
// appears while the online side is busy, moves between GPUs, ctl claims per
// GPU and for all, read-only mode, and the state snapshot.
#include <cstdio>
#include <memory>

#include <gtest/gtest.h>

#include "agent/core.h"
#include "agent_fake_procs.h"
#include "base/clock.h"
#include "preempt/protocol.h"
#include "preempt_fake_kfd.h"
#include "preempt_fake_source.h"
#include "test_events.h"

using gp::AgentCore;
using gp::EventKind;
using gp::Role;
using gp::test::FakeKfd;
using gp::test::FakeProc;
using gp::test::FakeSource;

namespace {

constexpr std::uint32_t kGpuA = 41234, kGpuB = 52345;
constexpr std::uint64_t kMs = 1'000'000;

const char* kPolicy =
    "version: 1\n"
    "default: ignored\n"
    "rules:\n"
    "  - {name: env-online, role: online, match: {env: {GPREEMPT_ROLE: online}}}\n"
    "  - {name: env-offline, role: offline, match: {env: {GPREEMPT_ROLE: offline}}}\n"
    "  - {name: hami-low, role: offline, match: {env: {AMD_TASK_PRIORITY: \"[1-9]*\"}}}\n"
    "  - {name: besteffort, role: offline, match: {cgroup: \"*kubepods-besteffort*\"}}\n";

// A log the tests can read back.
class Log {
 public:
  Log() : f_(::open_memstream(&buf_, &len_)) {}
  ~Log() {
    std::fclose(f_);
    std::free(buf_);
  }
  std::FILE* file() { return f_; }
  std::string text() {
    std::fflush(f_);
    return std::string(buf_, len_);
  }
  bool has(const std::string& s) { return text().find(s) != std::string::npos; }

 private:
  char* buf_ = nullptr;
  std::size_t len_ = 0;
  std::FILE* f_;
};

struct Rig {
  gp::test::FakeRoot root;
  FakeKfd kfd;
  gp::InlineExecutor exec;
  FakeSource src;
  Log log;
  gp::AgentOptions opts;
  std::unique_ptr<AgentCore> core;
  std::uint64_t kptr = 0x10000;

  explicit Rig(bool read_only = false) {
    opts.read_only = read_only;
    root.mkdir("/sys/class/kfd/kfd/proc");
  }
  void proc(FakeProc p) {
    add_fake_proc(root, p);
    kfd.proc(p.pid);  // a KFD process the fake's debug API knows
  }
  void start(const std::vector<pid_t>& pids) {
    gp::TargetOptions topts;
    topts.require_runtime = false;
    core = std::make_unique<AgentCore>(
        gp::parse_policy(kPolicy, "test.yaml"), opts, src,
        [this, topts](pid_t pid) { return gp::Target::attach_on(exec, kfd, pid, topts, [] { return false; }); },
        log.file());
    src.set_sink(core.get());
    core->start(pids, gp::monotonic_ns());
  }
  // A queue the process created on gpu, seen by the map.
  std::uint32_t queue(pid_t pid, std::uint32_t qid, std::uint32_t gpu) {
    kfd.create_queue(pid, qid);
    auto ev = gp::test::queue_event(EventKind::QueueAdd, static_cast<std::uint32_t>(pid), qid, ++kptr, 0x9000 + pid,
                                    GP_QF_ACTIVE, gp::monotonic_ns());
    ev.raw.q.gpu_id = gpu;
    src.push(ev);
    pump();
    return qid;
  }
  void event(EventKind kind, pid_t pid) {
    src.push(gp::test::process_event(kind, static_cast<std::uint32_t>(pid), 0x9000 + pid));
    pump();
  }
  void pump() {
    src.pump();
    core->after_pump(gp::monotonic_ns());
  }
  void doorbell(pid_t pid, std::uint64_t now = gp::monotonic_ns()) { core->on_doorbell(pid, 0x7000, 1, now, now); }
  std::string ctl(const std::string& line) { return core->handle(gp::parse_request(line), gp::monotonic_ns()); }
  const gp::AgentProcessState* state(pid_t pid) {
    core->publish(gp::monotonic_ns());
    last = core->snapshot(gp::monotonic_ns());
    for (const auto& p : last.processes)
      if (p.pid == pid) return &p;
    return nullptr;
  }
  const gp::AgentGpuState* gpu(std::uint32_t id) {
    core->publish(gp::monotonic_ns());
    last = core->snapshot(gp::monotonic_ns());
    for (const auto& g : last.gpus)
      if (g.gpu_id == id) return &g;
    return nullptr;
  }
  gp::AgentState last;
};

}  // namespace

TEST(AgentCore, ClassifiesEveryKfdProcessAtStartAndPairsThemPerGpu) {
  Rig rig;
  rig.proc(FakeProc{.pid = 100, .env = {{"GPREEMPT_ROLE", "online"}}, .gpus = {kGpuA}});
  rig.proc(FakeProc{.pid = 200, .env = {{"GPREEMPT_ROLE", "offline"}}, .gpus = {kGpuA}});
  rig.proc(FakeProc{.pid = 300, .cgroup = "0::/kubepods.slice/kubepods-besteffort.slice/"
                                          "kubepods-besteffort-pod1e597579_417e_482f_bf65_5fe170c3aebd.slice\n",
                    .gpus = {kGpuB}});
  rig.proc(FakeProc{.pid = 400, .gpus = {kGpuA}});
  rig.start({100, 200, 300, 400});
  rig.core->publish(gp::monotonic_ns());

  EXPECT_EQ(rig.state(100)->role, Role::Online);
  EXPECT_EQ(rig.state(100)->rule, "env-online");
  EXPECT_EQ(rig.state(200)->role, Role::Offline);
  EXPECT_EQ(rig.state(300)->rule, "besteffort");
  EXPECT_EQ(rig.state(300)->pod_uid, "1e597579-417e-482f-bf65-5fe170c3aebd");
  EXPECT_EQ(rig.state(300)->gpu_ids, (std::vector<std::uint32_t>{kGpuB}));
  EXPECT_EQ(rig.state(400)->role, Role::Ignored);
  EXPECT_TRUE(rig.kfd.proc(200).debug_enabled) << "offline processes are attached";
  EXPECT_TRUE(rig.kfd.proc(300).debug_enabled);
  EXPECT_FALSE(rig.kfd.proc(100).debug_enabled) << "online processes are only watched";
  EXPECT_FALSE(rig.kfd.proc(400).debug_enabled) << "ignored processes are left alone";
  ASSERT_NE(rig.gpu(kGpuA), nullptr);
  EXPECT_EQ(rig.gpu(kGpuA)->online, (std::vector<pid_t>{100}));
  EXPECT_EQ(rig.gpu(kGpuA)->offline, (std::vector<pid_t>{200}));
  EXPECT_TRUE(rig.gpu(kGpuB)->online.empty());
  EXPECT_TRUE(rig.log.has("pid 200 (python3): offline by rule \"env-offline\"")) << rig.log.text();
  EXPECT_TRUE(rig.log.has("4 KFD process(es) at start: 1 online, 2 offline, 1 ignored")) << rig.log.text();
}

TEST(AgentCore, OnlineDemandSuspendsOnlyItsGpusOfflineSideAndIdleResumes) {
  Rig rig;
  rig.proc(FakeProc{.pid = 100, .env = {{"GPREEMPT_ROLE", "online"}}, .gpus = {kGpuA}});
  rig.proc(FakeProc{.pid = 200, .env = {{"GPREEMPT_ROLE", "offline"}}, .gpus = {kGpuA}});
  rig.proc(FakeProc{.pid = 300, .env = {{"GPREEMPT_ROLE", "offline"}}, .gpus = {kGpuB}});
  rig.start({100, 200, 300});
  rig.queue(200, 1, kGpuA);
  rig.queue(200, 2, kGpuA);
  rig.queue(300, 1, kGpuB);

  const std::uint64_t t = gp::monotonic_ns();
  rig.doorbell(100, t);
  EXPECT_EQ(rig.kfd.suspended_count(200), 2u) << rig.log.text();
  EXPECT_EQ(rig.kfd.suspended_count(300), 0u) << "another GPU's offline process runs on";
  EXPECT_TRUE(rig.log.has("GPU 41234: suspend (online pid 100")) << rig.log.text();
  rig.core->publish(gp::monotonic_ns());
  EXPECT_TRUE(rig.state(200)->suspended);
  EXPECT_FALSE(rig.state(300)->suspended);
  EXPECT_TRUE(rig.gpu(kGpuA)->suspended);
  EXPECT_EQ(rig.last.suspend_total.at(gp::SuspendTrigger::Doorbell), 1u);

  rig.core->tick(gp::monotonic_ns() + 10 * kMs);
  EXPECT_EQ(rig.kfd.suspended_count(200), 2u) << "held for --min-hold-ms";
  rig.core->tick(gp::monotonic_ns() + 200 * kMs);
  EXPECT_EQ(rig.kfd.suspended_count(200), 0u) << rig.log.text();
  EXPECT_TRUE(rig.log.has("GPU 41234: resume (idle for")) << rig.log.text();
  rig.core->publish(gp::monotonic_ns());
  EXPECT_FALSE(rig.state(200)->suspended);
  EXPECT_GT(rig.state(200)->suspended_seconds, 0.0);
  EXPECT_EQ(rig.last.resume_total, 1u);
}

TEST(AgentCore, TheOnlineProcessExitingResumesAtOnce) {
  Rig rig;
  rig.proc(FakeProc{.pid = 100, .env = {{"GPREEMPT_ROLE", "online"}}});
  rig.proc(FakeProc{.pid = 200, .env = {{"GPREEMPT_ROLE", "offline"}}});
  rig.start({100, 200});
  rig.queue(200, 1, kGpuA);  // its queue moves it to GPU A ...
  rig.queue(100, 1, kGpuA);  // ... and the online one's too
  rig.doorbell(100);
  ASSERT_EQ(rig.kfd.suspended_count(200), 1u) << rig.log.text();
  rig.event(EventKind::ProcessRelease, 100);
  EXPECT_EQ(rig.kfd.suspended_count(200), 0u) << "no online process left on the GPU: resumed within the hold";
  EXPECT_TRUE(rig.log.has("pid 100 (python3) (online) left")) << rig.log.text();
  EXPECT_TRUE(rig.log.has("resume (online pid 100 exited)")) << rig.log.text();
  rig.core->publish(gp::monotonic_ns());
  EXPECT_EQ(rig.state(100), nullptr);
}

TEST(AgentCore, WithoutAnyGpuKnownProcessesShareGroupZero) {
  // The VM tier: no GPU node, so no queue and no per-GPU sysfs entry.
  Rig rig;
  rig.proc(FakeProc{.pid = 100, .env = {{"GPREEMPT_ROLE", "online"}}});
  rig.proc(FakeProc{.pid = 200, .env = {{"GPREEMPT_ROLE", "offline"}}});
  rig.start({100, 200});
  ASSERT_NE(rig.gpu(0), nullptr);
  EXPECT_EQ(rig.gpu(0)->online, (std::vector<pid_t>{100}));
  rig.doorbell(100);
  rig.core->publish(gp::monotonic_ns());
  EXPECT_TRUE(rig.state(200)->suspended) << "held: no queue yet, new ones are suspended as they come";
  // Its first queue shows GPU A, where no online process is: it moves there and is released.
  rig.queue(200, 3, kGpuA);
  EXPECT_FALSE(rig.state(200)->suspended);
  EXPECT_EQ(rig.state(200)->gpu_ids, (std::vector<std::uint32_t>{kGpuA}));
  EXPECT_EQ(rig.kfd.suspended_count(200), 0u);
}

TEST(AgentCore, AnOfflineProcessAppearingWhileTheOnlineSideIsBusyIsSuspendedAsItsQueuesCome) {
  Rig rig;
  rig.proc(FakeProc{.pid = 100, .env = {{"GPREEMPT_ROLE", "online"}}, .gpus = {kGpuA}});
  rig.start({100});
  rig.doorbell(100);
  rig.proc(FakeProc{.pid = 500, .env = {{"AMD_TASK_PRIORITY", "3"}}, .gpus = {kGpuA}});
  rig.event(EventKind::ProcessCreate, 500);
  EXPECT_TRUE(rig.log.has("pid 500 (python3): offline by rule \"hami-low\"")) << rig.log.text();
  EXPECT_TRUE(rig.kfd.proc(500).debug_enabled);
  rig.queue(500, 1, kGpuA);
  rig.queue(500, 2, kGpuA);
  EXPECT_EQ(rig.kfd.suspended_count(500), 2u) << rig.log.text();
  // And the online side idle: both resumed.
  rig.core->tick(gp::monotonic_ns() + 500 * kMs);
  EXPECT_EQ(rig.kfd.suspended_count(500), 0u) << rig.log.text();
}

TEST(AgentCore, AProcessMovesToTheGpuItsQueuesAreOn) {
  Rig rig;
  rig.proc(FakeProc{.pid = 100, .env = {{"GPREEMPT_ROLE", "online"}}, .gpus = {kGpuA}});
  rig.proc(FakeProc{.pid = 200, .env = {{"GPREEMPT_ROLE", "offline"}}, .gpus = {kGpuA, kGpuB}});
  rig.start({100, 200});
  EXPECT_EQ(rig.gpu(kGpuB)->offline, (std::vector<pid_t>{200})) << "may use both: in both groups";
  EXPECT_EQ(rig.gpu(kGpuA)->offline, (std::vector<pid_t>{200}));
  rig.queue(200, 1, kGpuB);
  EXPECT_TRUE(rig.log.has("pid 200 (python3): GPU(s) 41234,52345 -> 52345")) << rig.log.text();
  rig.core->publish(gp::monotonic_ns());
  EXPECT_TRUE(rig.gpu(kGpuA)->offline.empty());
  rig.doorbell(100);
  EXPECT_EQ(rig.kfd.suspended_count(200), 0u) << "GPU A's online demand does not touch GPU B";
}

TEST(AgentCore, CtlClaimsPerGpuAndForAll) {
  Rig rig;
  rig.proc(FakeProc{.pid = 200, .env = {{"GPREEMPT_ROLE", "offline"}}, .gpus = {kGpuA}});
  rig.proc(FakeProc{.pid = 300, .env = {{"GPREEMPT_ROLE", "offline"}}, .gpus = {kGpuB}});
  rig.start({200, 300});
  rig.queue(200, 1, kGpuA);
  rig.queue(300, 1, kGpuB);

  auto r = rig.ctl("suspend sched gpu=41234");
  EXPECT_EQ(r.rfind("ok suspended gpu=41234 claims=1 queues=1/1", 0), 0u) << r;
  EXPECT_EQ(rig.kfd.suspended_count(200), 1u);
  EXPECT_EQ(rig.kfd.suspended_count(300), 0u);
  EXPECT_EQ(rig.ctl("suspend other gpu=41234"), "ok held gpu=41234 claims=2");
  r = rig.ctl("status gpu=41234");
  EXPECT_NE(r.find("state=suspended"), std::string::npos) << r;
  EXPECT_NE(r.find("holders=other:1,sched:1"), std::string::npos) << r;
  EXPECT_NE(r.find("held=200"), std::string::npos) << r;
  EXPECT_EQ(rig.ctl("resume sched gpu=41234"), "ok held gpu=41234 claims=1");
  r = rig.ctl("resume other gpu=41234");
  EXPECT_EQ(r.rfind("ok resumed gpu=41234 claims=0", 0), 0u) << r;
  EXPECT_EQ(rig.kfd.suspended_count(200), 0u);

  // The old protocol: no selector claims every GPU.
  r = rig.ctl("suspend web");
  EXPECT_EQ(r.rfind("ok suspended claims=1 queues=2/2", 0), 0u) << r;
  EXPECT_EQ(rig.kfd.suspended_count(200), 1u);
  EXPECT_EQ(rig.kfd.suspended_count(300), 1u);
  r = rig.ctl("status");
  EXPECT_NE(r.find("state=suspended"), std::string::npos) << r;
  EXPECT_NE(r.find("suspends_ctl=3"), std::string::npos) << "one per GPU group that became suspended: " << r;
  r = rig.ctl("resume web");
  EXPECT_EQ(r.rfind("ok resumed claims=0", 0), 0u) << r;
  EXPECT_EQ(rig.kfd.suspended_count(300), 0u);

  EXPECT_EQ(rig.ctl("resume web"), "err web holds no claim on every GPU");
  EXPECT_EQ(rig.ctl("suspend x gpu=777").rfind("err no GPU with gpu_id 777", 0), 0u);
  EXPECT_EQ(rig.ctl("suspend x gpu=abc").rfind("err bad selector 'gpu=abc'", 0), 0u);
}

TEST(AgentCore, AClaimOnAGpuHoldsOfflineProcessesThatJoinItLater) {
  Rig rig;
  rig.start({});
  EXPECT_EQ(rig.ctl("suspend maintenance gpu=0").rfind("ok suspended gpu=0 claims=1", 0), 0u);
  rig.proc(FakeProc{.pid = 600, .env = {{"GPREEMPT_ROLE", "offline"}}});
  rig.event(EventKind::ProcessCreate, 600);
  rig.queue(600, 1, 0);
  EXPECT_EQ(rig.kfd.suspended_count(600), 1u) << rig.log.text();
}

TEST(AgentCore, AFailedSuspendIsUndoneAndTheDetectorRetriesLater) {
  Rig rig;
  rig.proc(FakeProc{.pid = 100, .env = {{"GPREEMPT_ROLE", "online"}}, .gpus = {kGpuA}});
  rig.proc(FakeProc{.pid = 200, .env = {{"GPREEMPT_ROLE", "offline"}}, .gpus = {kGpuA}});
  rig.start({100, 200});
  rig.queue(200, 1, kGpuA);
  rig.queue(200, 2, kGpuA);
  rig.kfd.error_qids = {2};
  rig.kfd.error_budget = 1;
  rig.doorbell(100);
  EXPECT_TRUE(rig.log.has("suspend (online pid 100")) << rig.log.text();
  EXPECT_TRUE(rig.log.has("FAILED")) << rig.log.text();
  EXPECT_EQ(rig.kfd.suspended_count(200), 0u) << "half a suspension is undone";
  rig.doorbell(100);
  EXPECT_EQ(rig.kfd.suspended_count(200), 2u) << "the next demand tries again";
}

TEST(AgentCore, AnAttachRefusalIsReportedAndTheProcessStaysUnpreempted) {
  Rig rig;
  rig.proc(FakeProc{.pid = 200, .env = {{"GPREEMPT_ROLE", "offline"}}});
  rig.kfd.enable_error = -EALREADY;
  rig.start({200});
  rig.core->publish(gp::monotonic_ns());
  EXPECT_NE(rig.state(200)->error.find("already has KFD debugging enabled"), std::string::npos) << rig.state(200)->error;
  EXPECT_TRUE(rig.log.has("pid 200 (python3): cannot be preempted")) << rig.log.text();
  EXPECT_EQ(rig.ctl("suspend x").rfind("ok suspended", 0), 0u) << "a claim still works for the rest";
}

TEST(AgentCore, ProcessCreateAndReleaseComeAndGo) {
  Rig rig;
  rig.start({});
  rig.proc(FakeProc{.pid = 700, .env = {{"GPREEMPT_ROLE", "offline"}}});
  auto ev = gp::test::process_event(EventKind::ProcessCreate, 700, 0x9700);
  ev.raw.ret = -19;  // a failed create (no GPU node): not a process
  rig.src.push(ev);
  rig.pump();
  rig.core->publish(gp::monotonic_ns());
  EXPECT_EQ(rig.state(700), nullptr);
  rig.event(EventKind::ProcessCreate, 700);
  rig.event(EventKind::ProcessCreate, 700);  // e.g. a second context: once
  rig.core->publish(gp::monotonic_ns());
  ASSERT_NE(rig.state(700), nullptr);
  EXPECT_EQ(rig.last.classified_total, 1u);
  rig.event(EventKind::ProcessRelease, 700);
  EXPECT_EQ(rig.state(700), nullptr);
  EXPECT_TRUE(rig.log.has("pid 700 (python3) (offline) left: its KFD process ended")) << rig.log.text();
  EXPECT_EQ(rig.kfd.count(GP_KFD_DBG_TRAP_DISABLE), 0u) << "its KFD process is gone: nothing to undo";
  // exec: the same pid opens /dev/kfd again under its new image, a new KFD process.
  rig.kfd.procs[700] = gp::test::FakeProcess{};
  rig.event(EventKind::ProcessCreate, 700);
  ASSERT_NE(rig.state(700), nullptr);
  EXPECT_EQ(rig.state(700)->error, "");
  EXPECT_TRUE(rig.kfd.proc(700).debug_enabled) << "attached again";
  EXPECT_EQ(rig.last.classified_total, 2u);
}

TEST(AgentCore, ReadOnlyClassifiesButNeverAttachesOrSuspends) {
  Rig rig(/*read_only=*/true);
  rig.proc(FakeProc{.pid = 100, .env = {{"GPREEMPT_ROLE", "online"}}});
  rig.proc(FakeProc{.pid = 200, .env = {{"GPREEMPT_ROLE", "offline"}}});
  rig.start({100, 200});
  rig.doorbell(100);
  EXPECT_TRUE(rig.kfd.calls.empty()) << "no KFD debug call at all";
  EXPECT_EQ(rig.ctl("suspend x").rfind("err the agent runs --read-only", 0), 0u);
  auto r = rig.ctl("status");
  EXPECT_NE(r.find("mode=read-only"), std::string::npos) << r;
  rig.core->publish(gp::monotonic_ns());
  EXPECT_EQ(rig.state(200)->role, Role::Offline);
  EXPECT_TRUE(rig.last.read_only);
}

TEST(AgentCore, QueuesPerTypeInTheSnapshot) {
  Rig rig;
  rig.proc(FakeProc{.pid = 200, .env = {{"GPREEMPT_ROLE", "offline"}}});
  rig.start({200});
  rig.queue(200, 1, kGpuA);
  rig.queue(200, 2, kGpuA);
  rig.core->publish(gp::monotonic_ns());
  ASSERT_EQ(rig.state(200)->queues.size(), 1u);
  EXPECT_EQ(rig.state(200)->queues[0].gpu_id, kGpuA);
  EXPECT_EQ(rig.state(200)->queues[0].type, "compute");
  EXPECT_EQ(rig.state(200)->queues[0].count, 2u);
}

TEST(AgentCore, FinishResumesAndDetachesEverything) {
  Rig rig;
  rig.proc(FakeProc{.pid = 200, .env = {{"GPREEMPT_ROLE", "offline"}}});
  rig.start({200});
  rig.queue(200, 1, kGpuA);
  rig.ctl("suspend x");
  ASSERT_EQ(rig.kfd.suspended_count(200), 1u);
  rig.core->finish(gp::monotonic_ns());
  EXPECT_EQ(rig.kfd.suspended_count(200), 0u);
  EXPECT_FALSE(rig.kfd.proc(200).debug_enabled);
  EXPECT_TRUE(rig.log.has("--- agent: 1 process(es) classified")) << rig.log.text();
}
