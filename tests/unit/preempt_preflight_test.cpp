// Every read-only refusal preempt makes before it touches a process.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "base/error.h"
#include "kfd/client.h"
#include "preempt/preflight.h"

namespace fs = std::filesystem;

namespace {

class PreflightTest : public ::testing::Test {
 protected:
  fs::path root;
  gp::PreflightPaths paths;

  void SetUp() override {
    root = fs::temp_directory_path() / ("gp-preflight-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root / "proc");
    fs::create_directories(root / "kfd");
    paths = {(root / "proc").string(), (root / "kfd").string(), (root / "sched_policy").string()};
  }
  void TearDown() override { fs::remove_all(root); }

  void process(pid_t pid, pid_t tgid, pid_t tracer, const std::string& comm, bool kfd) {
    fs::create_directories(root / "proc" / std::to_string(pid));
    std::ofstream(root / "proc" / std::to_string(pid) / "status")
        << "Name:\t" << comm << "\nTgid:\t" << tgid << "\nPid:\t" << pid << "\nTracerPid:\t" << tracer << "\n";
    std::ofstream(root / "proc" / std::to_string(pid) / "comm") << comm << "\n";
    if (kfd) fs::create_directories(root / "kfd" / std::to_string(tgid));
  }

  std::string refusal(const std::function<void()>& fn) {
    try {
      fn();
    } catch (const gp::UserError& e) {
      return e.what();
    }
    return "";
  }
};


TEST_F(PreflightTest, NotRootIsRefused) {
  auto msg = refusal([&] { gp::check_host(paths, 1000); });
  EXPECT_NE(msg.find("must run as root"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sudo"), std::string::npos) << msg;
}

TEST_F(PreflightTest, NoHwsSchedulerIsRefused) {
  std::ofstream(root / "sched_policy") << "2\n";
  auto msg = refusal([&] { gp::check_host(paths, 0); });
  EXPECT_NE(msg.find("sched_policy=2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sched_policy=0"), std::string::npos) << "says what to do: " << msg;
}

TEST_F(PreflightTest, HwsSchedulersPass) {
  for (const char* p : {"0", "1"}) {
    std::ofstream(root / "sched_policy") << p << "\n";
    EXPECT_EQ(refusal([&] { gp::check_host(paths, 0); }), "") << p;
  }
}

TEST_F(PreflightTest, AMissingProcessIsRefused) {
  auto msg = refusal([&] { gp::check_target(paths, 123, 1); });
  EXPECT_NE(msg.find("no such process"), std::string::npos) << msg;
}

TEST_F(PreflightTest, ANonKfdProcessIsRefused) {
  process(200, 200, 0, "bash", false);
  auto msg = refusal([&] { gp::check_target(paths, 200, 1); });
  EXPECT_NE(msg.find("not a KFD process"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bash"), std::string::npos) << msg;
}

TEST_F(PreflightTest, AnAlreadyTracedProcessIsRefusedNamingTheTracer) {
  process(300, 300, 777, "python3", true);
  process(777, 777, 0, "strace", false);
  auto msg = refusal([&] { gp::check_target(paths, 300, 1); });
  EXPECT_NE(msg.find("already traced by 777 (strace)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Detach it"), std::string::npos) << msg;
}

TEST_F(PreflightTest, AThreadIdResolvesToItsProcess) {
  process(401, 400, 0, "python3", false);
  process(400, 400, 0, "python3", true);
  EXPECT_EQ(gp::check_target(paths, 401, 1), 400);
}

TEST_F(PreflightTest, ItselfIsRefused) {
  process(500, 500, 0, "gpreempt-bpf", true);
  auto msg = refusal([&] { gp::check_target(paths, 500, 500); });
  EXPECT_NE(msg.find("itself"), std::string::npos) << msg;
}

TEST_F(PreflightTest, AGoodTargetPasses) {
  process(600, 600, 0, "python3", true);
  EXPECT_EQ(gp::check_target(paths, 600, 1), 600);
}

TEST_F(PreflightTest, AKernelWithoutTheDebugApiIsRefused) {
  auto msg = refusal([] { gp::require_debug_api({1, 11}); });
  EXPECT_NE(msg.find("KFD 1.11 has no debug API (needs >= 1.13"), std::string::npos) << msg;
  EXPECT_NE(msg.find("watch still works"), std::string::npos) << msg;
  EXPECT_NE(refusal([] { gp::require_debug_api({2, 0}); }), "") << "only 1.x is the ABI we speak";
  EXPECT_EQ(refusal([] { gp::require_debug_api({1, 13}); }), "");
  EXPECT_EQ(refusal([] { gp::require_debug_api({1, 23}); }), "");
}

}  // namespace
