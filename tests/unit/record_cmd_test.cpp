// `gpreempt-bpf record` as a user runs it, on a host without amdgpu (this
// tier's machines): it must refuse clearly, exit non-zero and leave no file.
// On a host with amdgpu loaded these cases do not apply (the VM tier and
// scripts/exp4-lifecycle.sh cover a real driver).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "run_binary.h"

namespace {

using gp::test::CmdResult;

using gp::test::run_gp;

bool exists(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0;
}

class RecordCmd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (exists("/sys/module/amdgpu")) GTEST_SKIP() << "amdgpu is loaded here: the no-driver refusal does not apply";
    char tmpl[] = "/tmp/gp-record-cmd-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    if (!dir_.empty()) std::system(("rm -rf " + dir_).c_str());
  }
  std::string dir_;
};

TEST_F(RecordCmd, WithoutAmdgpuRefusesAndLeavesNoFile) {
  const std::string f = dir_ + "/t.jsonl", pf = dir_ + "/t.perfetto.json";
  const CmdResult r = run_gp("record -o " + f + " --perfetto " + pf + " -- true");
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("amdgpu"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.rfind("gpreempt-bpf: ", 0), 0u) << "one clear error line: " << r.out;
  EXPECT_FALSE(exists(f)) << "a partial trace was left behind";
  EXPECT_FALSE(exists(pf));
}

TEST_F(RecordCmd, AnExistingFileSurvivesTheRefusal) {
  const std::string f = dir_ + "/keep.jsonl";
  std::ofstream(f) << "earlier trace\n";
  const CmdResult r = run_gp("record -o " + f + " -- true");
  EXPECT_NE(r.code, 0);
  std::ifstream in(f);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "earlier trace");
}

TEST_F(RecordCmd, UnwritableOutputFailsFirst) {
  const CmdResult r = run_gp("record -o " + dir_ + "/missing/t.jsonl -- true");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("cannot write " + dir_ + "/missing/t.jsonl: No such file or directory"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("amdgpu"), std::string::npos) << "the output is checked before the driver: " << r.out;
}

TEST_F(RecordCmd, UsageErrors) {
  EXPECT_NE(run_gp("record -- true").code, 0);  // -o is required
  const CmdResult same = run_gp("record -o " + dir_ + "/a --perfetto " + dir_ + "/a -- true");
  EXPECT_EQ(same.code, 2) << same.out;
  EXPECT_NE(same.out.find("same file"), std::string::npos) << same.out;
  const CmdResult neg = run_gp("record -o " + dir_ + "/a --duration -1");
  EXPECT_EQ(neg.code, 2) << neg.out;
  EXPECT_FALSE(exists(dir_ + "/a"));
}

}  // namespace
