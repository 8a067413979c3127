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

constexpr pid_t kPid = 4242;
constexpr std::uint64_t kRuntime = GP_KFD_EC_MASK(GP_KFD_EC_PROCESS_RUNTIME);
constexpr std::uint64_t kNew = GP_KFD_EC_MASK(GP_KFD_EC_QUEUE_NEW);

class DebugSessionTest : public ::testing::Test {
 protected:
  FakeKfd kfd;
  void SetUp() override { kfd.proc(kPid); }
  std::unique_ptr<DebugSession> enabled_session(gp::DebugSessionOptions o = {}) {
    auto s = std::make_unique<DebugSession>(kfd, kPid, o);
    s->enable();
    return s;
  }
};

std::string refusal_of(FakeKfd& kfd) {
  DebugSession s(kfd, kPid);
  try {
    s.enable();
  } catch (const gp::UserError& e) {
    EXPECT_EQ(s.event_fd(), -1) << "a refused enable leaves no pipe";
    EXPECT_FALSE(s.enabled());
    return e.what();
  }
  return "";
}

}  // namespace

TEST_F(DebugSessionTest, EnableSubscribesToRuntimeOnlyWithANonBlockingPipe) {
  auto s = enabled_session();
  ASSERT_EQ(kfd.calls.size(), 1u);
  EXPECT_EQ(kfd.calls[0].op, GP_KFD_DBG_TRAP_ENABLE);
  EXPECT_EQ(kfd.calls[0].mask, kRuntime) << "never subscribe to queue/wave/memory exceptions";
  int wr = kfd.proc(kPid).dbg_fd;
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
  EXPECT_FALSE(kfd.proc(kPid).debug_enabled);
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_DISABLE), 1u);
}

TEST_F(DebugSessionTest, ErrorRuntimeIsRefused) {
  kfd.state_after_activation = GP_KFD_RUNTIME_ENABLED_ERROR;
  auto msg = refusal_of(kfd);
  EXPECT_NE(msg.find("runtime_state error"), std::string::npos) << msg;
  EXPECT_FALSE(kfd.proc(kPid).debug_enabled);
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
  kfd.proc(kPid).runtime_state = GP_KFD_RUNTIME_DISABLED;  // attached before hsa_init
  auto s = enabled_session();
  EXPECT_FALSE(s->runtime_ready());
  auto refused = s->suspend({});
  EXPECT_FALSE(refused.refused.empty());
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_SUSPEND_QUEUES), 0u);

  kfd.target_runtime(kPid, true);
  ASSERT_TRUE(kfd.proc(kPid).blocked_in_handshake);
  EXPECT_EQ(s->on_event_fd(), 1);
  EXPECT_FALSE(kfd.proc(kPid).blocked_in_handshake) << "the target must not stay blocked";
  EXPECT_TRUE(s->runtime_ready());
  EXPECT_EQ(s->counters().runtime_enables, 1u);
  auto* send = kfd.last(GP_KFD_DBG_TRAP_SEND_RUNTIME_EVENT);
  ASSERT_NE(send, nullptr);
  EXPECT_EQ(send->mask, kRuntime);
  // The runtime event stays pending until QUERY_EXCEPTION_INFO reads the state with it.
  auto* q = kfd.last(GP_KFD_DBG_TRAP_QUERY_DEBUG_EVENT);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->mask & kRuntime, 0u);
  EXPECT_EQ(kfd.proc(kPid).status, 0u) << "event cleared";
  EXPECT_EQ(s->on_event_fd(), 0) << "a spurious wake-up answers nothing";
}

TEST_F(DebugSessionTest, HandshakeAtShutdownForgetsWhatTheKernelResumed) {
  kfd.create_queue(kPid, 1);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1}).ok());
  kfd.target_runtime(kPid, false);  // hsa_shut_down: KFD resumes every queue
  EXPECT_EQ(s->on_event_fd(), 1);
  EXPECT_FALSE(kfd.proc(kPid).blocked_in_handshake);
  EXPECT_EQ(s->runtime_state(), static_cast<std::uint32_t>(GP_KFD_RUNTIME_DISABLED));
  EXPECT_TRUE(s->suspended_qids().empty());
  EXPECT_EQ(s->counters().runtime_disables, 1u);
  auto resumed = s->resume();
  EXPECT_FALSE(resumed.issued) << "nothing is suspended any more";
}

TEST_F(DebugSessionTest, SnapshotClearsQueueNewBeforeTheFirstSuspend) {
  kfd.create_queue(kPid, 1);
  kfd.create_queue(kPid, 2);
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
  EXPECT_EQ(kfd.suspended_count(kPid), 2u);
  EXPECT_EQ(rep.count(QueueOutcome::Done), 2u);

  ASSERT_TRUE(s->resume().ok());
  kfd.calls.clear();
  EXPECT_TRUE(s->suspend({1, 2}).ok());
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT), 0u) << "already cleared: one ioctl";
}

TEST_F(DebugSessionTest, GracePeriodReachesTheKernel) {
  kfd.create_queue(kPid, 1);
  gp::DebugSessionOptions o;
  o.grace_period = 7;
  auto s = enabled_session(o);
  s->suspend({1});
  EXPECT_EQ(kfd.last(GP_KFD_DBG_TRAP_SUSPEND_QUEUES)->grace, 7u);
}

TEST_F(DebugSessionTest, PerEntryInvalidAndErrorBitsAreDecoded) {
  kfd.create_queue(kPid, 1);
  kfd.create_queue(kPid, 2);
  kfd.error_qids = {2};
  auto s = enabled_session();
  auto rep = s->suspend({1, 2, 99});
  ASSERT_EQ(rep.entries.size(), 3u);
  EXPECT_EQ(rep.entries[0].outcome, QueueOutcome::Done);
  EXPECT_EQ(rep.entries[1].outcome, QueueOutcome::Error);
  EXPECT_EQ(rep.entries[2].outcome, QueueOutcome::Invalid);
  EXPECT_EQ(rep.entries[2].qid, 99u) << "qid without its mask bits";
  EXPECT_FALSE(rep.ok());
  EXPECT_EQ(s->suspended_qids(), (std::set<std::uint32_t>{1}));
  EXPECT_EQ(s->counters().error_entries, 1u);
  EXPECT_EQ(s->counters().invalid_entries, 1u);
}

TEST_F(DebugSessionTest, AQueueTheMapHasNotSeenYetIsSuspendedAndReported) {
  kfd.create_queue(kPid, 1);
  kfd.create_queue(kPid, 2);
  auto s = enabled_session();
  auto rep = s->suspend({1});
  EXPECT_EQ(rep.map_missed, (std::vector<std::uint32_t>{2}));
  EXPECT_EQ(kfd.suspended_count(kPid), 2u);
  EXPECT_EQ(s->counters().map_missed, 1u);
}

TEST_F(DebugSessionTest, AQueueCreatedBetweenSnapshotAndSuspendIsRetried) {
  kfd.create_queue(kPid, 1);
  kfd.after_snapshot = [&](pid_t pid) {
    kfd.after_snapshot = nullptr;
    kfd.create_queue(pid, 3);  // flagged new: the first SUSPEND refuses it
  };
  auto s = enabled_session();
  auto rep = s->suspend({1, 3});
  EXPECT_EQ(rep.retried, 1u);
  EXPECT_TRUE(rep.ok());
  EXPECT_EQ(kfd.suspended_count(kPid), 2u);
}

TEST_F(DebugSessionTest, ANewQueueWhileSuspendedIsSuspendedAtOnce) {
  kfd.create_queue(kPid, 1);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1}).ok());
  kfd.create_queue(kPid, 2);
  auto rep = s->on_queue_added(2, gp::monotonic_ns() - 1000);
  ASSERT_TRUE(rep.has_value());
  EXPECT_TRUE(rep->ok());
  EXPECT_EQ(kfd.last(GP_KFD_DBG_TRAP_SUSPEND_QUEUES)->qids, (std::vector<std::uint32_t>{2}));
  EXPECT_EQ(s->counters().new_while_suspended, 1u);
  EXPECT_EQ(s->counters().new_queue_gap.count(), 1u);
  EXPECT_GE(s->counters().new_queue_gap.summary().min_us, 1.0);
  ASSERT_TRUE(s->resume().ok());
  EXPECT_EQ(kfd.last(GP_KFD_DBG_TRAP_RESUME_QUEUES)->qids, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(kfd.suspended_count(kPid), 0u);
}

TEST_F(DebugSessionTest, ANewQueueWhileRunningIsLeftAlone) {
  auto s = enabled_session();
  kfd.create_queue(kPid, 5);
  EXPECT_FALSE(s->on_queue_added(5, gp::monotonic_ns()).has_value());
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_SUSPEND_QUEUES), 0u);
  // Its EC_QUEUE_NEW still has to be cleared before it can be suspended.
  s->suspend({5});
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT), 1u);
}

TEST_F(DebugSessionTest, DestroyOfASuspendedQueueResumesIt) {
  kfd.create_queue(kPid, 1);
  kfd.create_queue(kPid, 2);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1, 2}).ok());
  auto rep = s->on_destroy_begin(2);
  ASSERT_TRUE(rep.has_value());
  EXPECT_EQ(kfd.last(GP_KFD_DBG_TRAP_RESUME_QUEUES)->qids, (std::vector<std::uint32_t>{2}));
  EXPECT_FALSE(kfd.proc(kPid).queues[2].suspended) << "the destroying thread must not block";
  EXPECT_EQ(s->counters().resumed_for_destroy, 1u);
  s->on_queue_removed(2);
  ASSERT_TRUE(s->resume().ok());
  EXPECT_EQ(kfd.last(GP_KFD_DBG_TRAP_RESUME_QUEUES)->qids, (std::vector<std::uint32_t>{1}));
}

TEST_F(DebugSessionTest, AQueueBeingDestroyedIsNotSuspended) {
  kfd.create_queue(kPid, 1);
  kfd.create_queue(kPid, 2);
  auto s = enabled_session();
  EXPECT_FALSE(s->on_destroy_begin(2).has_value()) << "not suspended: nothing to resume";
  s->suspend({1, 2});
  EXPECT_EQ(kfd.last(GP_KFD_DBG_TRAP_SUSPEND_QUEUES)->qids, (std::vector<std::uint32_t>{1}));
}

TEST_F(DebugSessionTest, ADestroyRacingTheSuspendIsResumedWhenItsEventArrives) {
  kfd.create_queue(kPid, 1);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1}).ok());  // the destroy began in the kernel meanwhile
  ASSERT_TRUE(s->on_destroy_begin(1).has_value());
  EXPECT_EQ(kfd.suspended_count(kPid), 0u);
}

TEST_F(DebugSessionTest, TargetExitEndsCleanlyWithoutIoctls) {
  kfd.create_queue(kPid, 1);
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
  kfd.create_queue(kPid, 1);
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
  EXPECT_FALSE(kfd.proc(kPid).debug_enabled);
  EXPECT_EQ(kfd.suspended_count(kPid), 0u);
  EXPECT_EQ(s->event_fd(), -1);
  EXPECT_EQ(s->counters().released_after_disable, 0u);
}

TEST_F(DebugSessionTest, TeardownAnswersAHandshakeNobodyServicedYet) {
  kfd.proc(kPid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  auto s = enabled_session();
  kfd.target_runtime(kPid, true);
  s->teardown();
  EXPECT_FALSE(kfd.proc(kPid).blocked_in_handshake);
  EXPECT_EQ(s->counters().released_after_disable, 0u);
}

TEST_F(DebugSessionTest, AHandshakeRacingDisableIsReleased) {
  kfd.proc(kPid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  auto s = enabled_session();
  // The target enters RUNTIME_ENABLE just before our DISABLE takes its mutex:
  // DISABLE alone would leave it blocked forever.
  kfd.before_disable = [&](pid_t pid) {
    kfd.before_disable = nullptr;
    kfd.target_runtime(pid, true);
  };
  s->teardown();
  EXPECT_FALSE(kfd.proc(kPid).blocked_in_handshake);
  EXPECT_EQ(s->counters().released_after_disable, 1u);
  EXPECT_FALSE(kfd.proc(kPid).debug_enabled) << "and disabled again";
}

TEST_F(DebugSessionTest, AResumeErrorIsRetried) {
  kfd.create_queue(kPid, 1);
  auto s = enabled_session();
  ASSERT_TRUE(s->suspend({1}).ok());
  kfd.error_qids = {1};
  kfd.error_budget = 1;
  auto rep = s->resume();
  EXPECT_TRUE(rep.ok());
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_RESUME_QUEUES), 2u);
  EXPECT_EQ(kfd.suspended_count(kPid), 0u);
}

TEST_F(DebugSessionTest, SuspendWithNoQueuesIssuesNothing) {
  auto s = enabled_session();
  auto rep = s->suspend({});
  EXPECT_FALSE(rep.issued);
  EXPECT_TRUE(rep.ok());
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_SUSPEND_QUEUES), 0u);
}
