// ctl and the agent: the protocol's gpu= selector (old requests unchanged),
// the control socket's path checks, the agent's loop answering ctl over its
// socket, and preempt --serve refusing a selector it cannot honour.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "preempt/control_server.h"
#include "agent/core.h"
#include "agent/loop.h"
#include "agent_fake_procs.h"
#include "base/error.h"
#include "preempt/protocol.h"
#include "preempt/serve.h"
#include "preempt_fake_kfd.h"
#include "preempt_fake_source.h"
#include "test_events.h"

using gp::ControlRequest;

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

std::string tmp_socket(const char* name) { return "/tmp/gp-agent-" + std::string(name) + "-" + std::to_string(getpid()) + ".sock"; }

}  // namespace

TEST(AgentCtlProtocol, AGpuSelectorIsOptionalAndLast) {
  auto r = gp::parse_request("suspend web gpu=41234\n");
  EXPECT_EQ(r.kind, ControlRequest::Kind::Suspend);
  EXPECT_EQ(r.holder, "web");
  EXPECT_EQ(r.gpu, std::optional<std::uint32_t>(41234));
  r = gp::parse_request("resume gpu=0");
  EXPECT_EQ(r.kind, ControlRequest::Kind::Resume);
  EXPECT_EQ(r.holder, "anon");
  EXPECT_EQ(r.gpu, std::optional<std::uint32_t>(0));
  r = gp::parse_request("status gpu=7");
  EXPECT_EQ(r.kind, ControlRequest::Kind::Status);
  EXPECT_EQ(r.gpu, std::optional<std::uint32_t>(7));
  // The old requests parse as they did, with no selector.
  r = gp::parse_request("suspend web");
  EXPECT_EQ(r.holder, "web");
  EXPECT_FALSE(r.gpu.has_value());
  for (const char* bad : {"suspend web gpu=", "suspend web gpu=-1", "suspend web gpu=0x10", "suspend gpu=1 web",
                          "suspend a b gpu=1", "status x gpu=1"}) {
    auto b = gp::parse_request(bad);
    EXPECT_EQ(b.kind, ControlRequest::Kind::Invalid) << bad;
    EXPECT_FALSE(b.error.empty()) << bad;
  }
  EXPECT_EQ(gp::format_request(ControlRequest::Kind::Suspend, "x", 5u), "suspend x gpu=5\n");
  EXPECT_EQ(gp::format_request(ControlRequest::Kind::Status, "x", 5u), "status gpu=5\n");
  EXPECT_EQ(gp::format_request(ControlRequest::Kind::Resume, "x"), "resume x\n") << "old clients' bytes unchanged";
}

TEST(AgentControlServer, APathThatIsNotASocketIsRefusedAndKept) {
  const std::string path = tmp_socket("file");
  std::ofstream(path) << "precious\n";
  try {
    gp::ControlServer s(path, 0600, "a running agent");
    FAIL() << "accepted a regular file";
  } catch (const gp::UserError& e) {
    EXPECT_EQ(e.code, 2);
    EXPECT_NE(std::string(e.what()).find("already exists and is not a socket"), std::string::npos) << e.what();
  }
  std::string kept;
  std::ifstream(path) >> kept;
  EXPECT_EQ(kept, "precious") << "never replaced";
  unlink(path.c_str());
}

TEST(AgentControlServer, ALiveServerIsRefusedAndAStaleSocketReplaced) {
  const std::string path = tmp_socket("live");
  {
    gp::ControlServer first(path, 0600, "a running agent");
    try {
      gp::ControlServer second(path, 0600, "a running agent");
      FAIL() << "two servers on one path";
    } catch (const gp::UserError& e) {
      EXPECT_NE(std::string(e.what()).find("another server is listening there"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(access(path.c_str(), F_OK), -1) << "removed when the server ends";
  // A socket left by a killed server: bound, never listened on any more.
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  close(fd);
  bool replaced = false;
  gp::ControlServer again(path, 0600, "a running agent", &replaced);
  EXPECT_TRUE(replaced);
}

TEST(AgentLoop, AnswersCtlOnItsSocketPerGpu) {
  gp::test::FakeRoot root;
  root.mkdir("/sys/class/kfd/kfd/proc");
  gp::test::FakeKfd kfd;
  gp::InlineExecutor exec;
  gp::test::FakeSource src;
  // A pid that exists: the loop drops members whose process is gone.
  const pid_t pid = getppid();
  add_fake_proc(root, gp::test::FakeProc{.pid = pid, .env = {{"GPREEMPT_ROLE", "offline"}}});
  kfd.proc(pid);
  kfd.create_queue(pid, 1);
  gp::TargetOptions topts;
  topts.require_runtime = false;
  std::FILE* out = std::fopen("/dev/null", "w");
  gp::AgentCore core(gp::parse_policy("version: 1\nrules:\n  - {name: off, role: offline, match: {env: {GPREEMPT_ROLE: offline}}}\n",
                                      "p.yaml"),
                     gp::AgentOptions{}, src,
                     [&](pid_t p) { return gp::Target::attach_on(exec, kfd, p, topts, [] { return false; }); }, out);
  src.set_sink(&core);
  src.push(gp::test::queue_event(gp::EventKind::QueueAdd, static_cast<std::uint32_t>(pid), 1, 0x5000));
  src.pump();
  core.start({pid}, 1);
  const std::string path = tmp_socket("loop");
  gp::ControlServer server(path, 0600, "a running agent");
  std::atomic<bool> stop{false};
  gp::AgentLoopOptions lo;
  lo.server = &server;
  lo.stop = &stop;
  lo.refresh_ms = lo.idle_refresh_ms = 10;
  std::thread loop([&] { gp::run_agent_loop(core, src, lo, out); });

  auto r = ask(path, "suspend sched gpu=41234");
  EXPECT_EQ(r.rfind("ok suspended gpu=41234 claims=1 queues=1/1", 0), 0u) << r;
  auto st = gp::parse_reply(ask(path, "status gpu=41234"));
  ASSERT_TRUE(st.ok);
  EXPECT_EQ(st.fields["state"], "suspended");
  EXPECT_EQ(st.fields["held"], std::to_string(pid));
  EXPECT_EQ(ask(path, "resume sched gpu=41234").rfind("ok resumed gpu=41234 claims=0", 0), 0u);
  EXPECT_EQ(gp::parse_reply(ask(path, "status")).fields["mode"], "full");
  stop = true;
  loop.join();
  core.finish(2);
  std::fclose(out);
  EXPECT_EQ(kfd.suspended_count(pid), 0u);
}

TEST(AgentCtlProtocol, PreemptServeRefusesAGpuSelector) {
  gp::test::FakeKfd kfd;
  gp::InlineExecutor exec;
  gp::PreemptController ctl;
  gp::test::FakeSource src(&ctl);
  kfd.proc(3300);
  ctl.add_target(gp::Target::attach_on(exec, kfd, 3300, {}, [] { return false; }));
  gp::ServeOptions o;
  o.socket_path = tmp_socket("serve");
  std::FILE* out = std::fopen("/dev/null", "w");
  std::thread server([&] { gp::run_serve(ctl, src, o, out); });
  const auto r = ask(o.socket_path, "suspend web gpu=1");
  EXPECT_EQ(r.rfind("err preempt --serve holds its targets on every GPU", 0), 0u) << r;
  EXPECT_EQ(ask(o.socket_path, "suspend web").rfind("ok suspended", 0), 0u) << "the old request still works";
  src.push(gp::test::process_event(gp::EventKind::ProcessSweep, 3300, 0x9000));  // ends the loop
  server.join();
  std::fclose(out);
}
