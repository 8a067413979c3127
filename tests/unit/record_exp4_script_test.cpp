// scripts/exp4-lifecycle.sh: argument handling, the dry run's exact
// commands, and the refusal on a host without amdgpu (nothing created).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "run_binary.h"

namespace {

const std::string kScript = std::string(GP_TEST_DATA_DIR) + "/../../scripts/exp4-lifecycle.sh";

gp::test::CmdResult run_script(const std::string& args) {
  return gp::test::run_shell("bash " + kScript + " " + args + " 2>&1");
}

bool path_exists(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0;
}

TEST(RecordExp4Script, UsageErrorsExit64) {
  EXPECT_EQ(run_script("--out /tmp/x -- true").code, 64);                 // no --runs
  EXPECT_EQ(run_script("--runs 0 --out /tmp/x -- true").code, 64);        // not positive
  EXPECT_EQ(run_script("--runs two --out /tmp/x -- true").code, 64);
  EXPECT_EQ(run_script("--runs 2 -- true").code, 64);                     // no --out
  const gp::test::CmdResult no_cmd = run_script("--runs 2 --out /tmp/x");
  EXPECT_EQ(no_cmd.code, 64);
  EXPECT_NE(no_cmd.out.find("no workload"), std::string::npos) << no_cmd.out;
  EXPECT_EQ(run_script("--runs 2 --out /tmp/x --pause soon -- true").code, 64);
  EXPECT_EQ(run_script("--runs 2 --out /tmp/x python3 model.py").code, 64);  // workload without --
  EXPECT_EQ(run_script("--help").code, 0);
}

TEST(RecordExp4Script, DryRunPrintsTheExactCommands) {
  const gp::test::CmdResult r = run_script("--runs 3 --out '/tmp/exp 4' --pause 1 --bin /bin/true --dry-run -- python3 -c 'print(1)'");
  ASSERT_EQ(r.code, 0) << r.out;
  for (int k = 1; k <= 3; ++k) {
    const std::string run_k = "/tmp/exp\\ 4/run-" + std::to_string(k);
    EXPECT_NE(r.out.find("/bin/true record -o " + run_k + ".jsonl --perfetto " + run_k +
                         ".perfetto.json -- python3 -c print\\(1\\)\n"),
              std::string::npos)
        << r.out;
  }
  EXPECT_NE(r.out.find("/bin/true report /tmp/exp\\ 4/run-1.jsonl /tmp/exp\\ 4/run-2.jsonl /tmp/exp\\ 4/run-3.jsonl > "
                       "/tmp/exp\\ 4/report.txt\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("report --json /tmp/exp\\ 4/run-1.jsonl"), std::string::npos) << r.out;
  EXPECT_FALSE(path_exists("/tmp/exp 4")) << "a dry run creates nothing";
}

TEST(RecordExp4Script, RefusesWithoutAmdgpuBeforeCreatingAnything) {
  if (path_exists("/sys/module/amdgpu")) GTEST_SKIP() << "amdgpu is loaded here";
  char tmpl[] = "/tmp/gp-exp4-XXXXXX";
  const std::string dir = std::string(::mkdtemp(tmpl)) + "/out";
  const gp::test::CmdResult r = run_script("--runs 2 --out " + dir + " --bin /bin/true -- true");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("amdgpu driver is not loaded"), std::string::npos) << r.out;
  EXPECT_FALSE(path_exists(dir));
  ::rmdir(tmpl);
}

}  // namespace
