// The per-target debug-session state machine against the fake KFD.
#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/error.h"
#include "kfd/debug_session.h"
#include "preempt_fake_kfd.h"

using gp::DebugSession;
using gp::QueueOutcome;
using gp::test::FakeKfd;

namespace {

constexpr pid_t kSessionPid = 4242;
constexpr std::uint64_t kRuntime = GP_KFD_EC_MASK(GP_KFD_EC_PROCESS_RUNTIME);
constexpr std::uint64_t kNew = GP_KFD_EC_MASK(GP_KFD_EC_QUEUE_NEW);

class DebugSessionTest : public ::testing::Test {
 protected:
  FakeKfd kfd;
  void SetUp() override { kfd.proc(kSessionPid); }
  std::unique_ptr<DebugSession> enabled_session(gp::DebugSessionOptions o = {}) {
    auto s = std::make_unique<DebugSession>(kfd, kSessionPid, o);
    s->enable();
    return s;
  }
};

std::string refusal_of(FakeKfd& kfd) {
  DebugSession s(kfd, kSessionPid);
  try {
    s.enable();
  } catch (const gp::UserError& e) {
    EXPECT_EQ(s.event_fd(), -1) << "a refused enable leaves no pipe";
    EXPECT_FALSE(s.enabled());
    return e.what();
  }
  return "";
}


TEST_F(DebugSessionTest, EnableSubscribesToRuntimeOnlyWithANonBlockingPipe) {
  auto s = enabled_session();
  ASSERT_EQ(kfd.calls.size(), 1u);
  EXPECT_EQ(kfd.calls[0].op, GP_KFD_DBG_TRAP_ENABLE);
  EXPECT_EQ(kfd.calls[0].mask, kRuntime) << "never subscribe to queue/wave/memory exceptions";
  int wr = kfd.proc(kSessionPid).dbg_fd;
  struct stat st {};
  ASSERT_EQ(fstat(wr, &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_TRUE(fcntl(wr, F_GETFL) & O_NONBLOCK) << "KFD's write must never block the target";
  EXPECT_EQ(fcntl(wr, F_GETFL) & O_ACCMODE, O_WRONLY);
  EXPECT_TRUE(fcntl(wr, F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(fcntl(s->event_fd(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(s->runtime_ready());
}

TEST_F(DebugSessionTest, BusyRuntimeIsRefusedAndNothingStaysEnabled) {
  kfd.state_after_activation = GP_KFD_RUNTIME_ENABLED_BUSY;
  auto msg = refusal_of(kfd);
  EXPECT_NE(msg.find("busy"), std::string::npos) << msg;
  EXPECT_NE(msg.find("only one process per GPU"), std::string::npos) << msg;
  EXPECT_FALSE(kfd.proc(kSessionPid).debug_enabled);
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_DISABLE), 1u);
}

TEST_F(DebugSessionTest, ErrorRuntimeIsRefused) {
  kfd.state_after_activation = GP_KFD_RUNTIME_ENABLED_ERROR;
  auto msg = refusal_of(kfd);
  EXPECT_NE(msg.find("runtime_state error"), std::string::npos) << msg;
  EXPECT_FALSE(kfd.proc(kSessionPid).debug_enabled);
}

TEST_F(DebugSessionTest, EnableErrorsBecomeActionableMessages) {
  struct Case {
    int err;
    const char* says;
  } cases[] = {{-EALREADY, "another debugger"}, {-EPERM, "ptrace parent"}, {-ESRCH, "exited"},
               {-ENODEV, "GFX9"},               {-EBUSY, "GWS"},          {-EINVAL, "NO_HWS"}};
  for (auto& c : cases) {
    kfd.enable_error = c.err;
    auto msg = refusal_of(kfd);
    EXPECT_NE(msg.find(c.says), std::string::npos) << c.err << ": " << msg;
  }
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_DISABLE), 0u) << "nothing was enabled, nothing to undo";
}

TEST_F(DebugSessionTest, HandshakeAtTheTargetsRuntimeEnableReleasesIt) {
  kfd.proc(kSessionPid).runtime_state = GP_KFD_RUNTIME_DISABLED;  // attached before hsa_init
  auto s = enabled_session();
  EXPECT_FALSE(s->runtime_ready());
  auto refused = s->suspend({});
  EXPECT_FALSE(refused.refused.empty());
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_SUSPEND_QUEUES), 0u);

  kfd.target_runtime(kSessionPid, true);
  ASSERT_TRUE(kfd.proc(kSessionPid).blocked_in_handshake);
  EXPECT_EQ(s->on_event_fd(), 1);
  EXPECT_FALSE(kfd.proc(kSessionPid).blocked_in_handshake) << "the target must not stay blocked";
  EXPECT_TRUE(s->runtime_ready());
  EXPECT_EQ(s->counters().runtime_enables, 1u);
  auto* send = kfd.last(GP_KFD_DBG_TRAP_SEND_RUNTIME_EVENT);
  ASSERT_NE(send, nullptr);
  EXPECT_EQ(send->mask, kRuntime);
  // QUERY_EXCEPTION_INFO reads the runtime state with the event and clears it.
  auto* q = kfd.last(GP_KFD_DBG_TRAP_QUERY_EXCEPTION_INFO);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->mask, 1u) << "clear";
  EXPECT_EQ(kfd.proc(kSessionPid).status, 0u) << "event cleared";
  EXPECT_EQ(s->on_event_fd(), 0) << "a spurious wake-up answers nothing";
}

TEST_F(DebugSessionTest, HandshakeAtShutdownForgetsWhatTheKernelResumed) {
  kfd.create_queue(kSessionPid, 1);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1}).ok());
  kfd.target_runtime(kSessionPid, false);  // hsa_shut_down: KFD resumes every queue
  EXPECT_EQ(s->on_event_fd(), 1);
  EXPECT_FALSE(kfd.proc(kSessionPid).blocked_in_handshake);
  EXPECT_EQ(s->runtime_state(), static_cast<std::uint32_t>(GP_KFD_RUNTIME_DISABLED));
  EXPECT_TRUE(s->suspended_qids().empty());
  EXPECT_EQ(s->counters().runtime_disables, 1u);
  auto resumed = s->resume();
  EXPECT_FALSE(resumed.issued) << "nothing is suspended any more";
}

TEST_F(DebugSessionTest, SnapshotClearsQueueNewBeforeTheFirstSuspend) {
  kfd.create_queue(kSessionPid, 1);
  kfd.create_queue(kSessionPid, 2);
  auto s = enabled_session();
  auto rep = s->suspend({1, 2});
  EXPECT_TRUE(rep.ok());
  EXPECT_TRUE(rep.snapshotted);
  auto ops = kfd.ops();
  ASSERT_GE(ops.size(), 3u);
  EXPECT_EQ(ops[1], GP_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT);
  EXPECT_EQ(ops[2], GP_KFD_DBG_TRAP_SUSPEND_QUEUES);
  EXPECT_EQ(kfd.calls[1].mask, kNew);
  EXPECT_EQ(kfd.calls[2].qids, (std::vector<std::uint32_t>{1, 2})) << "explicit qids from the map";
  EXPECT_EQ(kfd.suspended_count(kSessionPid), 2u);
  EXPECT_EQ(rep.count(QueueOutcome::Done), 2u);

  ASSERT_TRUE(s->resume().ok());
  kfd.calls.clear();
  EXPECT_TRUE(s->suspend({1, 2}).ok());
  // Already cleared: the SUSPEND goes first, KFD's list is checked after it.
  ASSERT_EQ(kfd.ops(), (std::vector<int>{GP_KFD_DBG_TRAP_SUSPEND_QUEUES, GP_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT}));
}

TEST_F(DebugSessionTest, GracePeriodReachesTheKernel) {
  kfd.create_queue(kSessionPid, 1);
  gp::DebugSessionOptions o;
  o.grace_period = 7;
  auto s = enabled_session(o);
  s->suspend({1});
  EXPECT_EQ(kfd.last(GP_KFD_DBG_TRAP_SUSPEND_QUEUES)->grace, 7u);
}

TEST_F(DebugSessionTest, PerEntryInvalidAndErrorBitsAreDecoded) {
  kfd.create_queue(kSessionPid, 1);
  kfd.create_queue(kSessionPid, 2);
  kfd.error_qids = {2};
  auto s = enabled_session();
  auto rep = s->suspend({1, 2, 99});
  ASSERT_EQ(rep.entries.size(), 3u);
  EXPECT_EQ(rep.entries[0].outcome, QueueOutcome::Done);
  EXPECT_EQ(rep.entries[1].outcome, QueueOutcome::Error);
  EXPECT_EQ(rep.entries[2].outcome, QueueOutcome::Invalid);
  EXPECT_EQ(rep.entries[2].qid, 99u) << "qid without its mask bits";
  EXPECT_FALSE(rep.ok());
  // The ERROR entry may be suspended (KFD sets is_suspended before the step
  // that failed): held with the done one, so RESUME frees it.
  EXPECT_EQ(s->suspended_qids(), (std::set<std::uint32_t>{1, 2}));
  EXPECT_EQ(rep.possibly_suspended, (std::vector<std::uint32_t>{2}));
  EXPECT_EQ(s->counters().error_entries, 1u);
  EXPECT_EQ(s->counters().invalid_entries, 1u);
}

TEST_F(DebugSessionTest, AQueueTheMapHasNotSeenYetIsSuspendedAndReported) {
  kfd.create_queue(kSessionPid, 1);
  kfd.create_queue(kSessionPid, 2);
  auto s = enabled_session();
  auto rep = s->suspend({1});
  EXPECT_EQ(rep.map_missed, (std::vector<std::uint32_t>{2}));
  EXPECT_EQ(kfd.suspended_count(kSessionPid), 2u);
  EXPECT_EQ(s->counters().map_missed, 1u);
}

TEST_F(DebugSessionTest, AQueueCreatedBetweenSnapshotAndSuspendIsRetried) {
  kfd.create_queue(kSessionPid, 1);
  kfd.after_snapshot = [&](pid_t pid) {
    kfd.after_snapshot = nullptr;
    kfd.create_queue(pid, 3);  // flagged new: the first SUSPEND refuses it
  };
  auto s = enabled_session();
  auto rep = s->suspend({1, 3});
  EXPECT_EQ(rep.retried, 1u);
  EXPECT_TRUE(rep.ok());
  EXPECT_EQ(kfd.suspended_count(kSessionPid), 2u);
}

TEST_F(DebugSessionTest, ANewQueueWhileSuspendedIsSuspendedAtOnce) {
  kfd.create_queue(kSessionPid, 1);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1}).ok());
  kfd.create_queue(kSessionPid, 2);
  auto rep = s->on_queue_added(2, gp::monotonic_ns() - 1000);
  ASSERT_TRUE(rep.has_value());
  EXPECT_TRUE(rep->ok());
  EXPECT_EQ(kfd.last(GP_KFD_DBG_TRAP_SUSPEND_QUEUES)->qids, (std::vector<std::uint32_t>{2}));
  EXPECT_EQ(s->counters().new_while_suspended, 1u);
  EXPECT_EQ(s->counters().new_queue_gap.count(), 1u);
  EXPECT_GE(s->counters().new_queue_gap.summary().min_us, 1.0);
  ASSERT_TRUE(s->resume().ok());
  EXPECT_EQ(kfd.last(GP_KFD_DBG_TRAP_RESUME_QUEUES)->qids, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(kfd.suspended_count(kSessionPid), 0u);
}

TEST_F(DebugSessionTest, ANewQueueWhileRunningIsLeftAlone) {
  auto s = enabled_session();
  kfd.create_queue(kSessionPid, 5);
  EXPECT_FALSE(s->on_queue_added(5, gp::monotonic_ns()).has_value());
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_SUSPEND_QUEUES), 0u);
  // Its EC_QUEUE_NEW still has to be cleared before it can be suspended.
  s->suspend({5});
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT), 1u);
}

TEST_F(DebugSessionTest, DestroyOfASuspendedQueueResumesIt) {
  kfd.create_queue(kSessionPid, 1);
  kfd.create_queue(kSessionPid, 2);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1, 2}).ok());
  auto rep = s->on_destroy_begin(2);
  ASSERT_TRUE(rep.has_value());
  EXPECT_EQ(kfd.last(GP_KFD_DBG_TRAP_RESUME_QUEUES)->qids, (std::vector<std::uint32_t>{2}));
  EXPECT_FALSE(kfd.proc(kSessionPid).queues[2].suspended) << "the destroying thread must not block";
  EXPECT_EQ(s->counters().resumed_for_destroy, 1u);
  s->on_queue_removed(2);
  ASSERT_TRUE(s->resume().ok());
  EXPECT_EQ(kfd.last(GP_KFD_DBG_TRAP_RESUME_QUEUES)->qids, (std::vector<std::uint32_t>{1}));
}

TEST_F(DebugSessionTest, AQueueBeingDestroyedIsNotSuspended) {
  kfd.create_queue(kSessionPid, 1);
  kfd.create_queue(kSessionPid, 2);
  auto s = enabled_session();
  EXPECT_FALSE(s->on_destroy_begin(2).has_value()) << "not suspended: nothing to resume";
  s->suspend({1, 2});
  EXPECT_EQ(kfd.last(GP_KFD_DBG_TRAP_SUSPEND_QUEUES)->qids, (std::vector<std::uint32_t>{1}));
}

TEST_F(DebugSessionTest, ADestroyRacingTheSuspendIsResumedWhenItsEventArrives) {
  kfd.create_queue(kSessionPid, 1);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1}).ok());  // the destroy began in the kernel meanwhile
  ASSERT_TRUE(s->on_destroy_begin(1).has_value());
  EXPECT_EQ(kfd.suspended_count(kSessionPid), 0u);
}

TEST_F(DebugSessionTest, TargetExitEndsCleanlyWithoutIoctls) {
  kfd.create_queue(kSessionPid, 1);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1}).ok());
  auto before = kfd.calls.size();
  s->on_target_gone();
  EXPECT_FALSE(s->resume().issued);
  EXPECT_FALSE(s->on_queue_added(2, 0).has_value());
  s->teardown();
  EXPECT_EQ(kfd.calls.size(), before) << "the kernel tore the process down; nothing to ask";
  EXPECT_EQ(s->event_fd(), -1);
}

TEST_F(DebugSessionTest, TeardownResumesThenDisables) {
  kfd.create_queue(kSessionPid, 1);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1}).ok());
  kfd.calls.clear();
  s->teardown();
  auto ops = kfd.ops();
  auto resume_at = std::find(ops.begin(), ops.end(), GP_KFD_DBG_TRAP_RESUME_QUEUES);
  auto disable_at = std::find(ops.begin(), ops.end(), GP_KFD_DBG_TRAP_DISABLE);
  ASSERT_NE(resume_at, ops.end());
  ASSERT_NE(disable_at, ops.end());
  EXPECT_LT(resume_at, disable_at);
  EXPECT_FALSE(kfd.proc(kSessionPid).debug_enabled);
  EXPECT_EQ(kfd.suspended_count(kSessionPid), 0u);
  EXPECT_EQ(s->event_fd(), -1);
  EXPECT_EQ(s->counters().released_after_disable, 0u);
}

TEST_F(DebugSessionTest, TeardownAnswersAHandshakeNobodyServicedYet) {
  kfd.proc(kSessionPid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  auto s = enabled_session();
  kfd.target_runtime(kSessionPid, true);
  s->teardown();
  EXPECT_FALSE(kfd.proc(kSessionPid).blocked_in_handshake);
  EXPECT_EQ(s->counters().released_after_disable, 0u);
}

TEST_F(DebugSessionTest, AHandshakeRacingDisableIsReleased) {
  kfd.proc(kSessionPid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  auto s = enabled_session();
  // The target enters RUNTIME_ENABLE just before our DISABLE takes its mutex:
  // DISABLE alone would leave it blocked forever.
  kfd.before_disable = [&](pid_t pid) {
    kfd.before_disable = nullptr;
    kfd.target_runtime(pid, true);
  };
  s->teardown();
  EXPECT_FALSE(kfd.proc(kSessionPid).blocked_in_handshake);
  EXPECT_EQ(s->counters().released_after_disable, 1u);
  EXPECT_FALSE(kfd.proc(kSessionPid).debug_enabled) << "and disabled again";
}

TEST_F(DebugSessionTest, AResumeErrorIsRetried) {
  kfd.create_queue(kSessionPid, 1);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1}).ok());
  kfd.error_qids = {1};
  kfd.error_budget = 1;
  auto rep = s->resume();
  EXPECT_TRUE(rep.ok());
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_RESUME_QUEUES), 2u);
  EXPECT_EQ(kfd.suspended_count(kSessionPid), 0u);
}

TEST_F(DebugSessionTest, SuspendWithNoQueuesAnywhereIssuesNoSuspend) {
  auto s = enabled_session();
  auto rep = s->suspend({});
  EXPECT_TRUE(rep.snapshotted) << "KFD was asked before concluding there is nothing";
  EXPECT_FALSE(rep.issued);
  EXPECT_TRUE(rep.ok());
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_SUSPEND_QUEUES), 0u);
}

// ---- Issue 18 #7: the hardware paths, in the kernel's order ----------------

// HWS, suspend_queues (6.12/7.2 amdkfd/kfd_device_queue_manager.c), per device:
//   q_array_invalidate -> per requested queue suspend_single_queue:
//   `is_suspended = true` (before anything can fail), is_active = false ->
//   execute_queues_cpsch(grace) fails (fence timeout: kfd_hws_hang) -> every
//   requested queue of the device gets ERROR; nothing is rolled back.
// The queues stay marked suspended, so RESUME must include them.
TEST_F(DebugSessionTest, ASuspendThatFailedOnTheGpuIsResumedAnyway) {
  kfd.create_queue(kSessionPid, 1);
  kfd.create_queue(kSessionPid, 2);
  kfd.execute_failures = 1;
  auto s = enabled_session();
  auto rep = s->suspend({1, 2});
  ASSERT_EQ(rep.count(QueueOutcome::Error), 2u);
  EXPECT_FALSE(rep.ok());
  ASSERT_EQ(kfd.suspended_count(kSessionPid), 2u) << "the kernel left them marked suspended";
  EXPECT_EQ(rep.possibly_suspended, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(s->counters().possibly_suspended, 2u);
  auto res = s->resume();
  ASSERT_TRUE(res.issued);
  EXPECT_EQ(kfd.last(GP_KFD_DBG_TRAP_RESUME_QUEUES)->qids, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(kfd.suspended_count(kSessionPid), 0u) << "a failed SUSPEND must not leave queues suspended until teardown";
}

// MES, suspend_single_queue: `is_suspended = true`, then remove_queue_mes
// fails -> ERROR on that entry and `break`: the entries after it stay INVALID.
TEST_F(DebugSessionTest, AMesRemoveFailureLeavesThatQueueSuspendedAndItIsResumed) {
  kfd.create_queue(kSessionPid, 1);
  kfd.create_queue(kSessionPid, 2);
  kfd.error_qids = {1};
  kfd.error_budget = 1;
  auto s = enabled_session();
  auto rep = s->suspend({1, 2});
  ASSERT_EQ(rep.entries.size(), 2u);
  EXPECT_EQ(rep.entries[0].outcome, QueueOutcome::Error);
  EXPECT_TRUE(kfd.proc(kSessionPid).queues[1].suspended);
  s->resume();
  EXPECT_EQ(kfd.suspended_count(kSessionPid), 0u);
}

// An empty map is not "nothing to suspend": KFD's own list decides.
TEST_F(DebugSessionTest, AnEmptyMapAsksKfdBeforeConcludingThereIsNothingToSuspend) {
  kfd.create_queue(kSessionPid, 3);  // the map never saw it (its add event was lost)
  auto s = enabled_session();
  auto rep = s->suspend({});
  EXPECT_TRUE(rep.snapshotted);
  EXPECT_TRUE(rep.issued);
  EXPECT_EQ(rep.map_missed, (std::vector<std::uint32_t>{3}));
  EXPECT_EQ(kfd.suspended_count(kSessionPid), 1u);
  EXPECT_TRUE(rep.ok());
}

TEST_F(DebugSessionTest, AnEmptyMapAndAnUnreadableKfdListIsNotASuccess) {
  kfd.create_queue(kSessionPid, 3);
  auto s = enabled_session();
  kfd.snapshot_error = -ENOMEM;
  auto rep = s->suspend({});
  EXPECT_FALSE(rep.ok()) << "nothing suspended and nothing known: not a success";
}

// Every map qid already had EC_QUEUE_NEW cleared, so no snapshot was needed
// for them; a queue the map lacks must still be found and suspended.
TEST_F(DebugSessionTest, AQueueTheMapLacksIsAdoptedEvenWhenEveryMapQidIsCleared) {
  kfd.create_queue(kSessionPid, 1);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1}).ok());
  ASSERT_TRUE(s->resume().ok());
  kfd.create_queue(kSessionPid, 2);  // created while running; its add event was lost
  auto rep = s->suspend({1});
  EXPECT_EQ(kfd.suspended_count(kSessionPid), 2u);
  EXPECT_EQ(rep.map_missed, (std::vector<std::uint32_t>{2}));
  ASSERT_TRUE(s->resume().ok());
  EXPECT_EQ(kfd.suspended_count(kSessionPid), 0u);
}

// The window a SIGKILL of the controller can leave the target blocked in
// (runtime_enable: kfd_dbg_ev_raise, then down_interruptible; only
// SEND_RUNTIME_EVENT's up() releases it) is as short as it can be: the pipe
// byte is answered by QUERY_EXCEPTION_INFO (reads and clears the event) and
// SEND_RUNTIME_EVENT, nothing before them.
TEST_F(DebugSessionTest, TheHandshakeIsAnsweredBeforeAnythingElse) {
  kfd.proc(kSessionPid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  auto s = enabled_session();
  kfd.calls.clear();
  kfd.target_runtime(kSessionPid, true);
  EXPECT_EQ(s->on_event_fd(), 1);
  auto ops = kfd.ops();
  ASSERT_GE(ops.size(), 2u);
  EXPECT_EQ(ops[0], GP_KFD_DBG_TRAP_QUERY_EXCEPTION_INFO);
  EXPECT_EQ(ops[1], GP_KFD_DBG_TRAP_SEND_RUNTIME_EVENT);
  EXPECT_FALSE(kfd.proc(kSessionPid).blocked_in_handshake);
  EXPECT_TRUE(s->runtime_ready());
}

TEST_F(DebugSessionTest, AGraceThatDoesNotFitSchWaveIsRefused) {
  for (std::uint32_t g : {0u, 256u, 300u, 0xFFFFFFFEu}) {
    gp::DebugSessionOptions o;
    o.grace_period = g;
    EXPECT_THROW(DebugSession(kfd, kSessionPid, o), std::invalid_argument) << g;
  }
  for (std::uint32_t g : {1u, 255u, static_cast<std::uint32_t>(GP_KFD_USE_DEFAULT_GRACE)}) {
    gp::DebugSessionOptions o;
    o.grace_period = g;
    EXPECT_NO_THROW(DebugSession(kfd, kSessionPid, o)) << g;
  }
}

// A destroy that fails after its queue was resumed for it (session level):
// suspended again while holding, and counted.
TEST_F(DebugSessionTest, AQueueWhoseDestroyFailedIsSuspendedAgain) {
  kfd.create_queue(kSessionPid, 1);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1}).ok());
  ASSERT_TRUE(s->on_destroy_begin(1).has_value());
  ASSERT_EQ(kfd.suspended_count(kSessionPid), 0u);
  auto rep = s->on_destroy_failed(1);
  ASSERT_TRUE(rep.has_value());
  EXPECT_TRUE(rep->ok());
  EXPECT_EQ(kfd.suspended_count(kSessionPid), 1u);
  EXPECT_EQ(s->counters().resuspended_after_failed_destroy, 1u);
  // Not holding: nothing to do.
  ASSERT_TRUE(s->resume().ok());
  ASSERT_TRUE(s->on_destroy_begin(1) == std::nullopt);
  EXPECT_FALSE(s->on_destroy_failed(1).has_value());
}

}  // namespace
