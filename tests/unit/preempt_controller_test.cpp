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

constexpr pid_t kPid = 3100;

struct Rig {
  FakeKfd kfd;
  gp::InlineExecutor exec;
  gp::PreemptController ctl;
  FakeSource src{&ctl};
  std::uint64_t kptr = 0x1000;

  Rig() { kfd.proc(kPid); }
  void attach(gp::TargetOptions o = {}) {
    ctl.add_target(gp::Target::attach_on(exec, kfd, kPid, o, [] { return false; }));
  }
  // A queue exists in the kernel and the map saw its creation.
  void queue(std::uint32_t qid) {
    kfd.create_queue(kPid, qid);
    src.push(queue_event(EventKind::QueueAdd, kPid, qid, kptr + qid, 0x9000, GP_QF_ACTIVE, gp::monotonic_ns()));
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
  rig.kfd.proc(kPid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  auto msg = refusal([&] { rig.attach(); });
  EXPECT_NE(msg.find("runtime_state disabled"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--wait-runtime"), std::string::npos) << "says what to do: " << msg;
  EXPECT_FALSE(rig.kfd.proc(kPid).debug_enabled) << "nothing left enabled";
}

TEST(PreemptTarget, WaitRuntimeAnswersTheHandshakeWhenItComes) {
  FakeKfd kfd;
  kfd.proc(kPid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  gp::InlineExecutor exec;
  gp::TargetOptions o;
  o.wait_runtime_s = 5;
  int polls = 0;
  auto t = gp::Target::attach_on(exec, kfd, kPid, o, [&] {
    if (++polls == 3) kfd.target_runtime(kPid, true);  // the target's hsa_init, while we wait
    return false;
  });
  EXPECT_FALSE(kfd.proc(kPid).blocked_in_handshake) << "the target must not stay blocked";
  EXPECT_EQ(kfd.proc(kPid).handshake_releases, 1);
  t->detach();
  EXPECT_FALSE(kfd.proc(kPid).debug_enabled);
}

TEST(PreemptTarget, WaitRuntimeGivesUpAndUndoes) {
  FakeKfd kfd;
  kfd.proc(kPid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  gp::InlineExecutor exec;
  gp::TargetOptions o;
  o.wait_runtime_s = 0.05;
  auto msg = refusal([&] { gp::Target::attach_on(exec, kfd, kPid, o, [] { return false; }); });
  EXPECT_NE(msg.find("waited 0.05 s"), std::string::npos) << msg;
  EXPECT_FALSE(kfd.proc(kPid).debug_enabled);
}

TEST(PreemptTarget, AnInterruptedWaitExits130AndUndoes) {
  FakeKfd kfd;
  kfd.proc(kPid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  gp::InlineExecutor exec;
  gp::TargetOptions o;
  o.wait_runtime_s = 5;
  int code = 0;
  auto msg = refusal([&] { gp::Target::attach_on(exec, kfd, kPid, o, [] { return true; }); }, &code);
  EXPECT_EQ(code, 130) << msg;
  EXPECT_FALSE(kfd.proc(kPid).debug_enabled);
}

TEST(PreemptTarget, BusyAfterTheHandshakeIsRefused) {
  FakeKfd kfd;
  kfd.proc(kPid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  kfd.state_after_activation = GP_KFD_RUNTIME_ENABLED_BUSY;
  gp::InlineExecutor exec;
  gp::TargetOptions o;
  o.wait_runtime_s = 5;
  auto msg = refusal([&] {
    gp::Target::attach_on(exec, kfd, kPid, o, [&] {
      kfd.target_runtime(kPid, true);
      return false;
    });
  });
  EXPECT_NE(msg.find("runtime_state busy"), std::string::npos) << msg;
  EXPECT_FALSE(kfd.proc(kPid).debug_enabled);
  EXPECT_FALSE(kfd.proc(kPid).blocked_in_handshake);
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
  EXPECT_EQ(rig.kfd.suspended_count(kPid), 0u);
}

TEST(PreemptController, ANewQueueWhileSuspendedIsSuspendedWhenTheMapSeesIt) {
  Rig rig;
  rig.queue(1);
  rig.attach();
  rig.ctl.suspend_all(rig.src.map());
  rig.queue(2);
  EXPECT_TRUE(rig.kfd.proc(kPid).queues[2].suspended);
  auto notes = rig.notes();
  EXPECT_NE(notes.find("queue 2 created while suspended: suspended"), std::string::npos) << notes;
  rig.ctl.resume_all();
  EXPECT_EQ(rig.kfd.suspended_count(kPid), 0u);
  // Another process's queue is none of our business.
  rig.ctl.suspend_all(rig.src.map());
  rig.src.push(queue_event(EventKind::QueueAdd, kPid + 1, 9, 0x77, 0x99));
  rig.src.pump();
  EXPECT_EQ(rig.kfd.last(GP_KFD_DBG_TRAP_SUSPEND_QUEUES)->qids, (std::vector<std::uint32_t>{1, 2}));
}

TEST(PreemptController, ADestroyOfASuspendedQueueResumesIt) {
  Rig rig;
  rig.queue(1);
  rig.queue(2);
  rig.attach();
  rig.ctl.suspend_all(rig.src.map());
  rig.src.push(destroy_begin(kPid, 2));
  rig.src.pump();
  EXPECT_FALSE(rig.kfd.proc(kPid).queues[2].suspended);
  EXPECT_TRUE(rig.kfd.proc(kPid).queues[1].suspended);
  EXPECT_NE(rig.notes().find("suspended queue 2 is being destroyed"), std::string::npos);
}

TEST(PreemptController, TargetExitEndsItCleanly) {
  Rig rig;
  rig.queue(1);
  rig.attach();
  rig.ctl.suspend_all(rig.src.map());
  rig.src.push(process_event(EventKind::ProcessRelease, kPid, 0x9000));
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
  rig.src.push(preempt_span(kPid, gp::Cause::DbgSuspend, 150, 40000));
  rig.src.push(preempt_span(kPid, gp::Cause::DbgResume, 170, 30000));
  rig.src.push(preempt_span(kPid, gp::Cause::Evict, 160, 99));       // not ours to show
  rig.src.push(preempt_span(kPid + 1, gp::Cause::DbgSuspend, 160, 1));  // another debugger's target
  rig.src.pump();
  auto s = rig.ctl.spans(kPid, false, 100, 200);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].total_ns, 40000u);
  EXPECT_EQ(rig.ctl.spans(kPid, true, 100, 200).size(), 1u);
  EXPECT_TRUE(rig.ctl.spans(kPid, false, 151, 200).empty());
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
  EXPECT_EQ(rig.kfd.suspended_count(kPid), 0u);
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
  EXPECT_EQ(rig.kfd.suspended_count(kPid), 1u);
  rig.src.push(process_event(EventKind::ProcessSweep, kPid, 0x9000));  // stops the loop
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
  rig.src.push(process_event(EventKind::ProcessSweep, kPid, 0x9000));
  server.join();
  std::fclose(out);
  EXPECT_EQ(rig.kfd.suspended_count(kPid), 0u);
}
