// The pieces of `record` that touch the OS without a GPU: the pending output
// file, the workload process, the progress line.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "base/error.h"
#include "record/output.h"
#include "record/progress.h"
#include "record/workload.h"

namespace gp::record {
namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/gp-record-XXXXXX";
  return ::mkdtemp(tmpl);
}

bool exists(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0;
}

TEST(RecordOutput, CreatedFileIsRemovedUnlessKept) {
  const std::string dir = temp_dir();
  {
    PendingOutput out(dir + "/a.jsonl");
    EXPECT_TRUE(out.created());
    EXPECT_TRUE(exists(dir + "/a.jsonl"));
  }
  EXPECT_FALSE(exists(dir + "/a.jsonl")) << "the session never started: no file left behind";
  {
    PendingOutput out(dir + "/b.jsonl");
    out.keep();
  }
  EXPECT_TRUE(exists(dir + "/b.jsonl"));
  ::unlink((dir + "/b.jsonl").c_str());
  ::rmdir(dir.c_str());
}

TEST(RecordOutput, ExistingFileIsLeftUntouched) {
  const std::string dir = temp_dir();
  const std::string p = dir + "/old.jsonl";
  std::ofstream(p) << "previous run\n";
  {
    PendingOutput out(p);
    EXPECT_FALSE(out.created());
  }
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "previous run") << "not truncated, not removed";
  ::unlink(p.c_str());
  ::rmdir(dir.c_str());
}

TEST(RecordOutput, UnwritablePathsFailWithTheReason) {
  try {
    PendingOutput out("/nonexistent-dir/x.jsonl");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write /nonexistent-dir/x.jsonl: No such file"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(PendingOutput("/tmp"), UserError);  // a directory
}

TEST(RecordWorkload, ExitStatusIsPropagated) {
  Workload ok({"true"});
  EXPECT_GT(ok.pid(), 0);
  while (!ok.poll_exit()) ::usleep(1000);
  EXPECT_EQ(ok.exit_code(), 0);
  EXPECT_EQ(ok.describe_exit(), "exited with status 0");

  Workload three({"sh", "-c", "exit 3"});
  while (!three.poll_exit()) ::usleep(1000);
  EXPECT_EQ(three.exit_code(), 3);
}

TEST(RecordWorkload, SignalReachesItAndIsReportedAsAShellWould) {
  Workload w({"sleep", "30"});
  EXPECT_FALSE(w.poll_exit());
  w.signal(SIGTERM);
  for (int i = 0; i < 5000 && !w.poll_exit(); ++i) ::usleep(1000);
  ASSERT_TRUE(w.exited());
  EXPECT_EQ(w.exit_code(), 128 + SIGTERM);
  EXPECT_EQ(w.describe_exit(), "killed by SIGTERM");
}

TEST(RecordWorkload, ExecFailureIsAUserErrorWithShellCodes) {
  try {
    Workload w({"/nonexistent/program", "x"});
    FAIL() << "exec of a missing program succeeded";
  } catch (const UserError& e) {
    EXPECT_EQ(e.code, 127);
    EXPECT_NE(std::string(e.what()).find("cannot run /nonexistent/program: No such file"), std::string::npos);
  }
  try {
    Workload w({"/tmp"});  // a directory: EACCES
    FAIL() << "exec of a directory succeeded";
  } catch (const UserError& e) {
    EXPECT_EQ(e.code, 126);
  }
  EXPECT_THROW(Workload(std::vector<std::string>{}), UserError);
}

TEST(RecordWorkload, ExitCodeOfWaitStatus) {
  EXPECT_EQ(exit_code_of(0), 0);
  EXPECT_EQ(exit_code_of(2 << 8), 2);
  EXPECT_EQ(exit_code_of(SIGKILL), 128 + SIGKILL);
}

std::string run_progress(bool tty, const std::vector<double>& times) {
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* f = ::open_memstream(&buf, &len);
  Progress p(f, tty);
  for (double t : times) p.update({t, 10, 7, 2, 0});
  p.finish();
  std::fclose(f);
  std::string s(buf, len);
  std::free(buf);
  return s;
}

TEST(RecordProgress, TerminalRefreshesInPlaceEverySecond) {
  const std::string s = run_progress(true, {0.0, 0.5, 1.0, 1.2, 2.1});
  EXPECT_EQ(std::count(s.begin(), s.end(), '\r'), 3);  // 0.0, 1.0, 2.1
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1);  // finish() ends the line
  EXPECT_NE(s.find("recording 2s: 7 events written (10 seen), 2 live queues, 0 lost"), std::string::npos) << s;
}

TEST(RecordProgress, LogsGetALineEveryFewSeconds) {
  const std::string s = run_progress(false, {0.0, 1.0, 2.0, 4.9, 5.0, 9.0, 10.1});
  EXPECT_EQ(s.find('\r'), std::string::npos);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 3);  // 0.0, 5.0, 10.1
}

}  // namespace
}  // namespace gp::record
