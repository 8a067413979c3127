// `gpreempt-bpf agent` on bad input: one clear line, a non-zero exit, and
// nothing attached (each case fails before the tracing session exists).
// And --check-policy on a fake /proc and KFD tree.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent_fake_procs.h"
#include "run_binary.h"

namespace {

using Result = gp::test::CmdResult;

using gp::test::run_gp;

Result run_as_nobody(const std::string& args) {
  return gp::test::run_gp(args, "setpriv --reuid=65534 --regid=65534 --clear-groups");
}

using gp::test::has;

class TempFile {
 public:
  TempFile(const std::string& name, const std::string& content)
      : path_("/tmp/gp-agent-cli-" + std::to_string(getpid()) + "-" + name) {
    std::ofstream(path_) << content;
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const char* kGood =
    "version: 1\n"
    "default: ignored\n"
    "rules:\n"
    "  - name: env-online\n"
    "    role: online\n"
    "    match: {env: {GPREEMPT_ROLE: online}}\n"
    "  - name: pods\n"
    "    role: offline\n"
    "    match: {cgroup: [\"*kubepods-besteffort*\", \"/kubepods/besteffort/*\"]}\n";

}  // namespace

TEST(AgentCli, HelpListsTheAgentAndItsOptions) {
  auto r = run_gp("--help");
  EXPECT_TRUE(has(r, "agent")) << r.out;
  r = run_gp("agent --help");
  EXPECT_EQ(r.code, 0);
  for (const char* o : {"--policy", "--check-policy", "--socket", "--metrics-listen", "--read-only", "--idle-ms"})
    EXPECT_TRUE(has(r, o)) << o << "\n" << r.out;
}

TEST(AgentCli, APolicyErrorNamesTheFileAndLine) {
  TempFile bad("bad.yaml", "version: 1\nrules:\n  - name: a\n    role: realtime\n    match: {comm: x}\n");
  auto r = run_gp("agent --policy " + bad.path());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r, "gpreempt-bpf: " + bad.path() + ":4:11: role must be online, offline or ignored, not \"realtime\""))
      << r.out;
  EXPECT_FALSE(has(r, "Attached")) << "nothing attached: " << r.out;
  r = run_gp("agent --check-policy " + bad.path());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r, bad.path() + ":4:11:")) << r.out;
  r = run_gp("agent --policy /nonexistent/policy.yaml");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r, "/nonexistent/policy.yaml: cannot read the policy: No such file or directory")) << r.out;
}

TEST(AgentCli, NeedsAPolicy) {
  auto r = run_gp("agent");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(has(r, "--policy FILE")) << r.out;
  TempFile good("good.yaml", kGood);
  r = run_gp("agent --policy " + good.path() + " --check-policy " + good.path());
  EXPECT_NE(r.code, 0) << r.out;
}

TEST(AgentCli, ASocketPathThatIsNotASocketIsRefusedBeforeAnythingIsAttached) {
  TempFile good("good.yaml", kGood);
  TempFile file("not-a-socket", "data\n");
  auto r = run_gp("agent --read-only --policy " + good.path() + " --socket " + file.path());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r, "the path already exists and is not a socket; not replacing it")) << r.out;
  EXPECT_FALSE(has(r, "Attached")) << r.out;
  std::string kept;
  std::ifstream(file.path()) >> kept;
  EXPECT_EQ(kept, "data");
}

TEST(AgentCli, ALiveServerOnTheSocketIsRefused) {
  TempFile good("good.yaml", kGood);
  const std::string path = "/tmp/gp-agent-cli-live-" + std::to_string(getpid()) + ".sock";
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  auto r = run_gp("agent --read-only --policy " + good.path() + " --socket " + path);
  close(fd);
  unlink(path.c_str());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(has(r, "another server is listening there (a running agent?)")) << r.out;
  EXPECT_FALSE(has(r, "Attached")) << r.out;
}

TEST(AgentCli, BadOptionsAreRefused) {
  TempFile good("good.yaml", kGood);
  auto r = run_gp("agent --read-only --policy " + good.path() + " --metrics-listen nope");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r, "--metrics-listen nope: expected ADDR:PORT")) << r.out;
  r = run_gp("agent --read-only --policy " + good.path() + " --metrics-listen 0.0.0.0:70000");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run_gp("agent --read-only --policy " + good.path() + " --idle-ms -1");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run_gp("agent --read-only --policy " + good.path() + " --socket-mode 999");
  EXPECT_EQ(r.code, 2) << r.out;
}

TEST(AgentCli, CheckPolicyPrintsEachKfdProcessesRoleAndRule) {
  gp::test::FakeRoot root;
  add_fake_proc(root, gp::test::FakeProc{.pid = 5101, .comm = "vllm", .env = {{"GPREEMPT_ROLE", "online"}}, .gpus = {41234}});
  add_fake_proc(root, gp::test::FakeProc{
                          .pid = 5102,
                          .comm = "train",
                          .cgroup = "0::/kubepods/besteffort/pod88bcf96e-7b92-4ce5-a3c0-2a6d098a1c33/"
                                    "823b5a6d9aaa8da5c0ecda3e7cbcd6729673437965dc600ffcb0a2651960f945\n"});
  add_fake_proc(root, gp::test::FakeProc{.pid = 5103, .comm = "bash", .kfd = false});
  TempFile good("good.yaml", kGood);
  auto r = run_gp("agent --check-policy " + good.path());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(has(r, "2 KFD process(es)")) << r.out;
  EXPECT_TRUE(has(r, "   5101  vllm             online   env-online            41234")) << r.out;
  EXPECT_TRUE(has(r, "   5102  train            offline  pods")) << r.out;
  EXPECT_TRUE(has(r, "88bcf96e-7b92-4ce5-a3c0-2a6d098a1c33  823b5a6d9aaa")) << r.out;
  EXPECT_FALSE(has(r, "5103")) << "not a KFD process: " << r.out;

  r = run_gp("agent --check-policy " + good.path() + " --all --json");
  EXPECT_EQ(r.code, 0) << r.out;
  int lines = 0;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    ++lines;
    if (j["pid"] == 5103) {
      EXPECT_EQ(j["role"], "ignored");
    }
    if (j["pid"] == 5102) {
      EXPECT_EQ(j["pod_uid"], "88bcf96e-7b92-4ce5-a3c0-2a6d098a1c33");
      EXPECT_EQ(j["qos"], "besteffort");
    }
  }
  EXPECT_EQ(lines, 3);
}

TEST(AgentCli, NotRootIsRefusedBeforeAnythingIsAttached) {
  if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) missing";
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to nobody";
  TempFile good("good.yaml", kGood);
  chmod(good.path().c_str(), 0644);
  auto r = run_as_nobody("agent --policy " + good.path());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(has(r, "agent must run as root")) << r.out;
}
