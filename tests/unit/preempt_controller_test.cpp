// The controller over targets (fake KFD, inline executor): attach refusals and
// the runtime wait, map-driven suspends, event routing while suspended, the
// cycles output and the serve socket.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/error.h"
#include "preempt/cycles.h"
#include "preempt/protocol.h"
#include "preempt/serve.h"
#include "preempt_fake_kfd.h"
#include "preempt_fake_source.h"
#include "test_events.h"

using gp::EventKind;
using gp::test::FakeKfd;
using gp::test::FakeSource;
using gp::test::process_event;
using gp::test::queue_event;

namespace {

constexpr pid_t kOfflinePid = 3100;

struct Rig {
  FakeKfd kfd;
  gp::InlineExecutor exec;
  gp::PreemptController ctl;
  FakeSource src{&ctl};
  std::uint64_t kptr = 0x1000;

  Rig() { kfd.proc(kOfflinePid); }
  void attach(gp::TargetOptions o = {}) {
    ctl.add_target(gp::Target::attach_on(exec, kfd, kOfflinePid, o, [] { return false; }));
  }
  // A queue exists in the kernel and the map saw its creation.
  void queue(std::uint32_t qid) {
    kfd.create_queue(kOfflinePid, qid);
    src.push(queue_event(EventKind::QueueAdd, kOfflinePid, qid, kptr + qid, 0x9000, GP_QF_ACTIVE, gp::monotonic_ns()));
    src.pump();
  }
  std::string notes() {
    std::string all;
    for (auto& n : ctl.take_notes()) all += n + "\n";
    return all;
  }
};

std::string refusal(const std::function<void()>& fn, int* code = nullptr) {
  try {
    fn();
  } catch (const gp::UserError& e) {
    if (code) *code = e.code;
    return e.what();
  }
  return "";
}

gp::Event destroy_begin(pid_t tgid, std::uint32_t qid) {
  gp::Event ev;
  ev.raw.kind = GP_EV_IOCTL_DESTROY_BEGIN;
  ev.raw.tgid = static_cast<std::uint32_t>(tgid);
  ev.raw.io.qid = qid;
  return ev;
}

gp::Event preempt_span(pid_t tgid, gp::Cause cause, std::uint64_t t0, std::uint32_t total) {
  gp::Event ev;
  ev.raw.kind = GP_EV_PREEMPT;
  ev.raw.cause = static_cast<std::uint32_t>(cause);
  ev.raw.pre.t0_ns = t0;
  ev.raw.pre.total_ns = total;
  ev.raw.pre.cause_tgid = static_cast<std::uint32_t>(tgid);
  return ev;
}

}  // namespace

TEST(PreemptTarget, ARuntimeNeverEnabledIsRefusedAndUndone) {
  Rig rig;
  rig.kfd.proc(kOfflinePid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  auto msg = refusal([&] { rig.attach(); });
  EXPECT_NE(msg.find("runtime_state disabled"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--wait-runtime"), std::string::npos) << "says what to do: " << msg;
  EXPECT_FALSE(rig.kfd.proc(kOfflinePid).debug_enabled) << "nothing left enabled";
}

TEST(PreemptTarget, WaitRuntimeAnswersTheHandshakeWhenItComes) {
  FakeKfd kfd;
  kfd.proc(kOfflinePid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  gp::InlineExecutor exec;
  gp::TargetOptions o;
  o.wait_runtime_s = 5;
  int polls = 0;
  auto t = gp::Target::attach_on(exec, kfd, kOfflinePid, o, [&] {
    if (++polls == 3) kfd.target_runtime(kOfflinePid, true);  // the target's hsa_init, while we wait
    return false;
  });
  EXPECT_FALSE(kfd.proc(kOfflinePid).blocked_in_handshake) << "the target must not stay blocked";
  EXPECT_EQ(kfd.proc(kOfflinePid).handshake_releases, 1);
  t->detach();
  EXPECT_FALSE(kfd.proc(kOfflinePid).debug_enabled);
}

TEST(PreemptTarget, WaitRuntimeGivesUpAndUndoes) {
  FakeKfd kfd;
  kfd.proc(kOfflinePid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  gp::InlineExecutor exec;
  gp::TargetOptions o;
  o.wait_runtime_s = 0.05;
  auto msg = refusal([&] { gp::Target::attach_on(exec, kfd, kOfflinePid, o, [] { return false; }); });
  EXPECT_NE(msg.find("waited 0.05 s"), std::string::npos) << msg;
  EXPECT_FALSE(kfd.proc(kOfflinePid).debug_enabled);
}

TEST(PreemptTarget, AnInterruptedWaitExits130AndUndoes) {
  FakeKfd kfd;
  kfd.proc(kOfflinePid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  gp::InlineExecutor exec;
  gp::TargetOptions o;
  o.wait_runtime_s = 5;
  int code = 0;
  auto msg = refusal([&] { gp::Target::attach_on(exec, kfd, kOfflinePid, o, [] { return true; }); }, &code);
  EXPECT_EQ(code, 130) << msg;
  EXPECT_FALSE(kfd.proc(kOfflinePid).debug_enabled);
}

TEST(PreemptTarget, BusyAfterTheHandshakeIsRefused) {
  FakeKfd kfd;
  kfd.proc(kOfflinePid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  kfd.state_after_activation = GP_KFD_RUNTIME_ENABLED_BUSY;
  gp::InlineExecutor exec;
  gp::TargetOptions o;
  o.wait_runtime_s = 5;
  auto msg = refusal([&] {
    gp::Target::attach_on(exec, kfd, kOfflinePid, o, [&] {
      kfd.target_runtime(kOfflinePid, true);
      return false;
    });
  });
  EXPECT_NE(msg.find("runtime_state busy"), std::string::npos) << msg;
  EXPECT_FALSE(kfd.proc(kOfflinePid).debug_enabled);
  EXPECT_FALSE(kfd.proc(kOfflinePid).blocked_in_handshake);
}

TEST(PreemptController, SuspendsExactlyTheMapsQueues) {
  Rig rig;
  rig.queue(3);
  rig.queue(4);
  rig.attach();
  auto ops = rig.ctl.suspend_all(rig.src.map());
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_TRUE(ops[0].report.ok());
  EXPECT_EQ(rig.kfd.last(GP_KFD_DBG_TRAP_SUSPEND_QUEUES)->qids, (std::vector<std::uint32_t>{3, 4}));
  EXPECT_TRUE(rig.ctl.holding());
  auto res = rig.ctl.resume_all();
  EXPECT_TRUE(res[0].report.ok());
  EXPECT_EQ(rig.kfd.suspended_count(kOfflinePid), 0u);
}

TEST(PreemptController, ANewQueueWhileSuspendedIsSuspendedWhenTheMapSeesIt) {
  Rig rig;
  rig.queue(1);
  rig.attach();
  rig.ctl.suspend_all(rig.src.map());
  rig.queue(2);
  EXPECT_TRUE(rig.kfd.proc(kOfflinePid).queues[2].suspended);
  auto notes = rig.notes();
  EXPECT_NE(notes.find("queue 2 created while suspended: suspended"), std::string::npos) << notes;
  rig.ctl.resume_all();
  EXPECT_EQ(rig.kfd.suspended_count(kOfflinePid), 0u);
  // Another process's queue is none of our business.
  rig.ctl.suspend_all(rig.src.map());
  rig.src.push(queue_event(EventKind::QueueAdd, kOfflinePid + 1, 9, 0x77, 0x99));
  rig.src.pump();
  EXPECT_EQ(rig.kfd.last(GP_KFD_DBG_TRAP_SUSPEND_QUEUES)->qids, (std::vector<std::uint32_t>{1, 2}));
}

TEST(PreemptController, ADestroyOfASuspendedQueueResumesIt) {
  Rig rig;
  rig.queue(1);
  rig.queue(2);
  rig.attach();
  rig.ctl.suspend_all(rig.src.map());
  rig.src.push(destroy_begin(kOfflinePid, 2));
  rig.src.pump();
  EXPECT_FALSE(rig.kfd.proc(kOfflinePid).queues[2].suspended);
  EXPECT_TRUE(rig.kfd.proc(kOfflinePid).queues[1].suspended);
  EXPECT_NE(rig.notes().find("suspended queue 2 is being destroyed"), std::string::npos);
}

TEST(PreemptController, TargetExitEndsItCleanly) {
  Rig rig;
  rig.queue(1);
  rig.attach();
  rig.ctl.suspend_all(rig.src.map());
  rig.src.push(process_event(EventKind::ProcessRelease, kOfflinePid, 0x9000));
  rig.src.pump();
  EXPECT_TRUE(rig.ctl.all_gone());
  auto before = rig.kfd.calls.size();
  EXPECT_TRUE(rig.ctl.resume_all().empty()) << "nothing is asked of a gone target";
  rig.ctl.detach_all();
  EXPECT_EQ(rig.kfd.calls.size(), before);
  EXPECT_NE(rig.notes().find("address space is going away"), std::string::npos);
}

TEST(PreemptController, KernelSpansAreMatchedToTheirIoctl) {
  Rig rig;
  rig.queue(1);
  rig.attach();
  rig.src.push(preempt_span(kOfflinePid, gp::Cause::DbgSuspend, 150, 40000));
  rig.src.push(preempt_span(kOfflinePid, gp::Cause::DbgResume, 170, 30000));
  rig.src.push(preempt_span(kOfflinePid, gp::Cause::Evict, 160, 99));       // not ours to show
  rig.src.push(preempt_span(kOfflinePid + 1, gp::Cause::DbgSuspend, 160, 1));  // another debugger's target
  rig.src.pump();
  auto s = rig.ctl.spans(kOfflinePid, false, 100, 200);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].total_ns, 40000u);
  EXPECT_EQ(rig.ctl.spans(kOfflinePid, true, 100, 200).size(), 1u);
  EXPECT_TRUE(rig.ctl.spans(kOfflinePid, false, 151, 200).empty());
  EXPECT_EQ(rig.ctl.spans_seen(), 2u);
}

TEST(PreemptController, ExtraQidsReachTheKernelAndComeBackInvalid) {
  Rig rig;
  rig.attach();
  rig.ctl.set_extra_qids({7});
  auto ops = rig.ctl.suspend_all(rig.src.map());
  ASSERT_EQ(ops[0].report.entries.size(), 1u);
  EXPECT_EQ(ops[0].report.entries[0].outcome, gp::QueueOutcome::Invalid);
  EXPECT_EQ(gp::describe_failures(ops[0].report).find("qid 7 invalid"), 0u);
  auto res = rig.ctl.resume_all();
  ASSERT_EQ(res[0].report.entries.size(), 1u) << "RESUME reaches the kernel too";
  EXPECT_EQ(res[0].report.entries[0].outcome, gp::QueueOutcome::Invalid);
  EXPECT_EQ(rig.kfd.last(GP_KFD_DBG_TRAP_RESUME_QUEUES)->qids, (std::vector<std::uint32_t>{7}));
}

// ---- Issue 18: kernel orders only a GPU reaches --------------------------

namespace {

gp::Event destroy_done(pid_t tgid, std::uint32_t qid, int ret) {
  gp::Event ev;
  ev.raw.kind = GP_EV_IOCTL_DESTROY_QUEUE;
  ev.raw.tgid = static_cast<std::uint32_t>(tgid);
  ev.raw.ret = ret;
  ev.raw.io.qid = qid;
  return ev;
}

}  // namespace

// 6.12/7.2: kfd_ioctl_destroy_queue (our ioctl_destroy_begin: we RESUME the
// queue) -> pqm_destroy_queue -> destroy_queue_cpsch -> wait_on_destroy_queue:
// is_being_destroyed = true; suspended: wait_event_interruptible(destroy_wait)
// -> a signal: -ERESTARTSYS, is_being_destroyed = false -> pqm: not
// -ETIME/-EIO, goto err_destroy_queue: the queue lives on (no uninit_queue) ->
// the ioctl returns the error. Our RESUME made it run: suspend it again.
TEST(PreemptController, ADestroyThatFailsAfterItsQueueWasResumedSuspendsItAgain) {
  Rig rig;
  rig.queue(1);
  rig.queue(2);
  rig.attach();
  rig.ctl.suspend_all(rig.src.map());
  rig.src.push(destroy_begin(kOfflinePid, 2));
  rig.src.pump();
  ASSERT_FALSE(rig.kfd.proc(kOfflinePid).queues[2].suspended) << "resumed so the destroy can finish";
  rig.src.push(destroy_done(kOfflinePid, 2, -512 /* -ERESTARTSYS */));
  rig.src.pump();
  EXPECT_TRUE(rig.kfd.proc(kOfflinePid).queues[2].suspended) << "the queue survived its destroy: held again";
  auto notes = rig.notes();
  EXPECT_NE(notes.find("the destroy of queue 2 failed and the queue lives on: suspended it again"),
            std::string::npos)
      << notes;
  rig.ctl.resume_all();
  EXPECT_EQ(rig.kfd.suspended_count(kOfflinePid), 0u);
}

// -ETIME/-EIO: pqm_destroy_queue goes on, uninit_queue frees the queue (our
// queue_remove) before the ioctl returns: nothing left to suspend.
TEST(PreemptController, ADestroyThatFailedButFreedTheQueueSuspendsNothing) {
  Rig rig;
  rig.queue(1);
  rig.queue(2);
  rig.attach();
  rig.ctl.suspend_all(rig.src.map());
  rig.src.push(destroy_begin(kOfflinePid, 2));
  rig.src.pump();
  rig.kfd.proc(kOfflinePid).queues.erase(2);
  rig.src.push(queue_event(EventKind::QueueRemove, kOfflinePid, 2, rig.kptr + 2, 0x9000));
  rig.src.push(destroy_done(kOfflinePid, 2, -62 /* -ETIME */));
  const auto suspends = rig.kfd.count(GP_KFD_DBG_TRAP_SUSPEND_QUEUES);
  rig.src.pump();
  EXPECT_EQ(rig.kfd.count(GP_KFD_DBG_TRAP_SUSPEND_QUEUES), suspends);
}

// 7.2, a secondary KFD context (second open of /dev/kfd + CREATE_PROCESS) of
// the target, closed while preempt holds the primary: kfd_release ->
// kfd_process_notifier_release_internal(secondary) ->
// kfd_process_dequeue_from_all_devices -> process_termination_cpsch (our
// qpd_terminate) -> pqm_uninit: kfd_procfs_del_queue + uninit_queue per queue
// (queue_remove) -> our process_sweep at pqm_uninit's return. Same tgid, its
// own kfd_process (context_id 0) and its own qids (0 again).
TEST(PreemptController, ASecondaryContextClosingIsNotTheTargetGoing) {
  Rig rig;
  rig.queue(0);
  rig.queue(1);
  rig.attach();
  rig.ctl.suspend_all(rig.src.map());
  const std::uint64_t secondary = 0x7000;
  auto add = queue_event(EventKind::QueueAdd, kOfflinePid, 0, 0x5000, secondary);
  add.raw.q.context_id = 0;
  add.raw.ev_flags |= GP_EVF_SECONDARY;
  rig.src.push(add);
  auto remove = add;
  remove.raw.kind = GP_EV_QUEUE_REMOVE;
  auto term = process_event(EventKind::QpdTerminate, kOfflinePid, secondary, 41234);
  term.raw.proc.context_id = 0;
  auto sweep = process_event(EventKind::ProcessSweep, kOfflinePid, secondary);
  sweep.raw.proc.context_id = 0;  // what the sweep has always carried
  rig.src.push(term);
  rig.src.push(remove);
  rig.src.push(sweep);
  rig.src.pump();
  EXPECT_FALSE(rig.ctl.all_gone()) << rig.notes();
  EXPECT_TRUE(rig.kfd.proc(kOfflinePid).queues[0].suspended) << "the primary's queue 0 is untouched";
  auto res = rig.ctl.resume_all();
  ASSERT_EQ(res.size(), 1u) << "the target is still ours to resume";
  EXPECT_EQ(rig.kfd.suspended_count(kOfflinePid), 0u);
  auto notes = rig.notes();
  EXPECT_NE(notes.find("queue 0 of its secondary KFD context 0"), std::string::npos) << notes;
}

// 7.2: the secondary context's destroy ioctl of its qid 0 (kfd_ioctl_destroy_queue
// on the secondary's fd: p = filep->private_data = the secondary) while the
// primary's queue 0 is suspended. Our ioctl_destroy_begin carries the context
// (flag + ioctl.context_id): the primary's queue 0 stays suspended.
TEST(PreemptController, ASecondaryContextsDestroyOfQidNLeavesThePrimarysQueueNAlone) {
  Rig rig;
  rig.queue(0);
  rig.attach();
  rig.ctl.suspend_all(rig.src.map());
  auto begin = destroy_begin(kOfflinePid, 0);
  begin.raw.ev_flags |= GP_EVF_SECONDARY;
  begin.raw.io.context_id = 0;
  auto done = destroy_done(kOfflinePid, 0, -EINVAL);
  done.raw.ev_flags |= GP_EVF_SECONDARY;
  done.raw.io.context_id = 0;
  const auto resumes = rig.kfd.count(GP_KFD_DBG_TRAP_RESUME_QUEUES);
  rig.src.push(begin);
  rig.src.push(done);
  rig.src.pump();
  EXPECT_EQ(rig.kfd.count(GP_KFD_DBG_TRAP_RESUME_QUEUES), resumes);
  EXPECT_TRUE(rig.kfd.proc(kOfflinePid).queues[0].suspended);
}

// An empty map does not mean nothing to suspend: KFD's own list is asked.
TEST(PreemptController, AnEmptyMapStillSuspendsWhatKfdLists) {
  Rig rig;
  rig.attach();
  rig.kfd.create_queue(kOfflinePid, 4);  // its add event was lost
  auto ops = rig.ctl.suspend_all(rig.src.map());
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_TRUE(ops[0].report.ok());
  EXPECT_EQ(ops[0].report.map_missed, (std::vector<std::uint32_t>{4}));
  EXPECT_EQ(rig.kfd.suspended_count(kOfflinePid), 1u);
  rig.ctl.resume_all();
  EXPECT_EQ(rig.kfd.suspended_count(kOfflinePid), 0u);
}

TEST(PreemptCycles, PrintsOneLinePerIterationAndASummary) {
  Rig rig;
  rig.queue(1);
  rig.queue(2);
  rig.attach();
  gp::CyclesOptions o;
  o.cycles = 3;
  o.hold_ms = 2;
  o.gap_ms = 1;
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* out = open_memstream(&buf, &len);
  int rc = gp::run_cycles(rig.ctl, rig.src, o, out);
  std::fclose(out);
  std::string text(buf, len);
  free(buf);
  EXPECT_EQ(rc, 0) << text;
  EXPECT_NE(text.find("[  1] Suspend:"), std::string::npos) << text;
  EXPECT_NE(text.find("[  3] Suspend:"), std::string::npos) << text;
  EXPECT_NE(text.find("queues 2/2 suspended, 2/2 resumed"), std::string::npos) << text;
  EXPECT_NE(text.find("success rate 100.0%"), std::string::npos) << text;
  EXPECT_NE(text.find("suspend ioctl: min"), std::string::npos) << text;
  EXPECT_EQ(rig.kfd.count(GP_KFD_DBG_TRAP_SUSPEND_QUEUES), 3u);
  EXPECT_EQ(rig.kfd.count(GP_KFD_DBG_TRAP_RESUME_QUEUES), 3u);
  EXPECT_EQ(rig.kfd.suspended_count(kOfflinePid), 0u);
}

TEST(PreemptCycles, FailuresAreCountedAndExplained) {
  Rig rig;
  rig.queue(1);
  rig.attach();
  rig.kfd.error_qids = {1};
  gp::CyclesOptions o;
  o.cycles = 2;
  o.hold_ms = 1;
  o.gap_ms = 0;
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* out = open_memstream(&buf, &len);
  int rc = gp::run_cycles(rig.ctl, rig.src, o, out);
  std::fclose(out);
  std::string text(buf, len);
  free(buf);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(text.find("FAILED"), std::string::npos) << text;
  EXPECT_NE(text.find("qid 1 error"), std::string::npos) << text;
  EXPECT_NE(text.find("success rate 0.0%"), std::string::npos) << text;
}

namespace {

std::string ask(const std::string& path, const std::string& line) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
  for (int i = 0; i < 200 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0; ++i) usleep(5000);
  std::string req = line + "\n";
  EXPECT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string reply;
  char c;
  while (recv(fd, &c, 1, 0) == 1 && c != '\n') reply += c;
  close(fd);
  return reply;
}

}  // namespace

TEST(PreemptServe, ClaimsNestAcrossClientsAndTheLastReleaseResumes) {
  Rig rig;
  rig.queue(1);
  rig.attach();
  gp::ServeOptions o;
  o.socket_path = "/tmp/gp-serve-test-" + std::to_string(getpid()) + ".sock";
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* out = open_memstream(&buf, &len);
  std::thread server([&] { gp::run_serve(rig.ctl, rig.src, o, out); });

  auto r1 = ask(o.socket_path, "suspend web");
  EXPECT_EQ(r1.rfind("ok suspended claims=1 queues=1/1", 0), 0u) << r1;
  EXPECT_EQ(ask(o.socket_path, "suspend batch"), "ok held claims=2");
  EXPECT_EQ(ask(o.socket_path, "resume web"), "ok held claims=1");
  EXPECT_EQ(ask(o.socket_path, "resume web"), "err web holds no claim");
  auto st = gp::parse_reply(ask(o.socket_path, "status"));
  ASSERT_TRUE(st.ok);
  EXPECT_EQ(st.fields["state"], "suspended");
  EXPECT_EQ(st.fields["holders"], "batch:1");
  EXPECT_EQ(st.fields["suspends"], "1");
  auto r2 = ask(o.socket_path, "resume batch");
  EXPECT_EQ(r2.rfind("ok resumed claims=0 queues=1/1", 0), 0u) << r2;
  EXPECT_EQ(ask(o.socket_path, "pause"), "err unknown request 'pause'; expected suspend, resume or status");

  // A claim left held ends with the server, which resumes.
  EXPECT_EQ(ask(o.socket_path, "suspend ctl").rfind("ok suspended", 0), 0u);
  EXPECT_EQ(rig.kfd.suspended_count(kOfflinePid), 1u);
  rig.src.push(process_event(EventKind::ProcessSweep, kOfflinePid, 0x9000));  // stops the loop
  server.join();
  std::fclose(out);
  std::string text(buf, len);
  free(buf);
  EXPECT_NE(text.find("3 claim(s)"), std::string::npos) << text;
  EXPECT_EQ(access(o.socket_path.c_str(), F_OK), -1) << "the socket is removed";
}

TEST(PreemptServe, ClaimsExpireAfterMaxHold) {
  Rig rig;
  rig.queue(1);
  rig.attach();
  gp::ServeOptions o;
  o.socket_path = "/tmp/gp-serve-test2-" + std::to_string(getpid()) + ".sock";
  o.max_hold_ms = 30;
  std::FILE* out = std::fopen("/dev/null", "w");
  std::thread server([&] { gp::run_serve(rig.ctl, rig.src, o, out); });
  EXPECT_EQ(ask(o.socket_path, "suspend web").rfind("ok suspended", 0), 0u);
  std::string state;
  for (int i = 0; i < 100; ++i) {
    state = gp::parse_reply(ask(o.socket_path, "status")).fields["state"];
    if (state == "running") break;
    usleep(10000);
  }
  EXPECT_EQ(state, "running") << "the claim expired and the target was resumed";
  rig.src.push(process_event(EventKind::ProcessSweep, kOfflinePid, 0x9000));
  server.join();
  std::fclose(out);
  EXPECT_EQ(rig.kfd.suspended_count(kOfflinePid), 0u);
}
