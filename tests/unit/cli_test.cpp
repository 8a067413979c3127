// The binary itself, on bad input: each case must give one clear line on
// stderr and a non-zero exit. The host has no amdgpu; a fake root
// (GPREEMPT_BPF_ROOT) stands in for the states this host cannot be in.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "fake_root.h"
#include "run_binary.h"

namespace {

using Result = gp::test::CmdResult;

using gp::test::run_gp;

using gp::test::has;

gp::test::FakeRoot& amdgpu_root(gp::test::FakeRoot& root) {
  root.mkdir("/sys/module/amdgpu");
  root.write("/sys/kernel/btf/vmlinux", "x");
  return root;
}

const char* const kCommands[] = {"watch", "queues", "doctor", "preempt", "ctl", "latency", "record", "report"};

TEST(Cli, HelpListsEverySubcommand) {
  auto r = run_gp("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* c : kCommands) EXPECT_TRUE(has(r, c)) << c;
}

// The short usage lists every command, one per line.
void expect_command_list(const Result& r) {
  EXPECT_TRUE(has(r, "usage: gpreempt-bpf COMMAND [OPTIONS]")) << r.out;
  for (const char* c : kCommands) EXPECT_TRUE(has(r, std::string("\n  ") + c + " ")) << c << "\n" << r.out;
}

TEST(Cli, UnknownCommandIsNamedAndTheCommandsListed) {
  auto r = run_gp("frobnicate");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out.rfind("gpreempt-bpf: unknown command 'frobnicate'\n", 0), 0u) << r.out;
  EXPECT_FALSE(has(r, "A subcommand is required")) << r.out;
  expect_command_list(r);
  // Its options do not hide it.
  r = run_gp("frobnicate --json -p 1");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r, "unknown command 'frobnicate'")) << r.out;
}

TEST(Cli, NoCommandPrintsTheUsage) {
  auto r = run_gp("");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out.rfind("usage: gpreempt-bpf COMMAND [OPTIONS]\n", 0), 0u) << r.out;
  EXPECT_FALSE(has(r, "A subcommand is required")) << r.out;
  expect_command_list(r);
  r = run_gp("--frobnicate");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out.rfind("gpreempt-bpf: unknown option '--frobnicate'\n", 0), 0u) << r.out;
  expect_command_list(r);
}

// A known command's own parse errors are CLI11's, as before.
TEST(Cli, AKnownCommandsParseErrorIsUnchanged) {
  auto r = run_gp("watch --frobnicate");
  EXPECT_NE(r.code, 0);
  EXPECT_FALSE(has(r, "unknown command")) << r.out;
  EXPECT_TRUE(has(r, "--frobnicate")) << r.out;
}

TEST(Cli, WatchWithoutAmdgpuSaysSoAndFails) {
  if (geteuid() != 0) GTEST_SKIP() << "the root-only path; the non-root one is tested below";
  if (access("/sys/module/amdgpu", F_OK) == 0) GTEST_SKIP() << "this host has amdgpu";
  auto r = run_gp("watch --duration 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "amdgpu driver is not loaded")) << r.out;
  EXPECT_TRUE(has(r, "scripts/vm/demo.sh")) << r.out;
}

TEST(Cli, DoctorWithoutAmdgpuExitsNonZero) {
  if (access("/sys/module/amdgpu", F_OK) == 0) GTEST_SKIP() << "this host has amdgpu";
  auto r = run_gp("doctor");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "watch:   will NOT work")) << r.out;
}

TEST(Cli, NotRootIsRefused) {
  if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) missing";
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to nobody";
  auto r = run_gp("watch --duration 1", "setpriv --reuid=65534 --regid=65534 --clear-groups");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(has(r, "not running as root")) << r.out;
  EXPECT_TRUE(has(r, "sudo")) << r.out;
}

TEST(Cli, NoAmdgpuBtfSaysHowToGetIt) {
  gp::test::FakeRoot root;
  amdgpu_root(root);
  auto r = run_gp("watch --duration 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "amdgpu has no BTF")) << r.out;
  EXPECT_TRUE(has(r, "--btf")) << r.out;
}

// A real (tiny) vmlinux BTF in the fake root, so --btf files are read
// against it the way they are against /sys/kernel/btf/vmlinux.
void fake_vmlinux_btf(gp::test::FakeRoot& root) {
  btf* b = btf__new_empty();
  const int i = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  btf__add_struct(b, "task_struct", 4);
  btf__add_field(b, "pid", i, 0, 0);
  __u32 size = 0;
  const void* raw = btf__raw_data(b, &size);
  root.write("/sys/kernel/btf/vmlinux", std::string(static_cast<const char*>(raw), size));
  btf__free(b);
}

TEST(Cli, DoctorWithoutAmdgpuBtfPrintsTheSteps) {
  gp::test::FakeRoot root;
  amdgpu_root(root);
  auto r = run_gp("doctor");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "amdgpu BTF       no")) << r.out;
  EXPECT_TRUE(has(r, "pahole -J --btf_base /sys/kernel/btf/vmlinux --btf_encode_detached /tmp/amdgpu.btf "
                     "/tmp/amdgpu.ko")) << r.out;
  EXPECT_TRUE(has(r, "gpreempt-bpf watch --btf /tmp/amdgpu.btf")) << r.out;
  auto j = run_gp("doctor --json");
  const auto doc = nlohmann::json::parse(j.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << j.out;
  EXPECT_FALSE(doc["amdgpu_btf"].get<bool>());
  ASSERT_TRUE(doc["btf_steps"].is_string()) << j.out;
  EXPECT_NE(doc["btf_steps"].get<std::string>().find("pahole -J"), std::string::npos);
  EXPECT_TRUE(doc["custom_btf"].is_null());
}

TEST(Cli, DoctorJudgesTheBtfFile) {
  gp::test::FakeRoot root;
  amdgpu_root(root);
  fake_vmlinux_btf(root);
  root.write("/bad.btf", "not BTF");
  auto r = run_gp("doctor --btf " + root.path() + "/bad.btf");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(has(r, "--btf            unusable")) << r.out;
  EXPECT_TRUE(has(r, "not BTF that libbpf can read")) << r.out;
  EXPECT_TRUE(has(r, "pahole -J --btf_base")) << r.out;
  auto j = run_gp("doctor --json --btf " + root.path() + "/bad.btf");
  const auto doc = nlohmann::json::parse(j.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << j.out;
  EXPECT_FALSE(doc["custom_btf"]["usable"].get<bool>()) << j.out;
}

TEST(Cli, WatchWithAnUnusableBtfFileSaysWhy) {
  if (geteuid() != 0) GTEST_SKIP() << "the file is read after the root check";
  gp::test::FakeRoot root;
  amdgpu_root(root);
  fake_vmlinux_btf(root);
  root.write("/bad.btf", "not BTF");
  auto r = run_gp("watch --duration 1 --btf " + root.path() + "/bad.btf");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "not BTF that libbpf can read")) << r.out;
  r = run_gp("watch --duration 1 --btf " + root.path() + "/sys/kernel/btf/vmlinux");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "has no amdgpu types")) << r.out;
}

TEST(Cli, UnknownPidIsAUsageError) {
  auto r = run_gp("watch -p 999999999");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r, "no such process: 999999999")) << r.out;
}

TEST(Cli, UnwritableOutputFailsBeforeAttaching) {
  auto r = run_gp("watch -o /proc/gp-no-such-dir/out.txt");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "cannot write /proc/gp-no-such-dir/out.txt")) << r.out;
}

TEST(Cli, SecondInstanceIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "instance check follows the root check";
  gp::test::FakeRoot root;
  amdgpu_root(root);
  root.mkdir("/run/gpreempt-bpf");
  const std::string lock = root.path() + "/run/gpreempt-bpf/watch.lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "4242", 4), 4);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);  // "the other instance"
  auto r = run_gp("watch --duration 1");
  ::close(fd);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "another `gpreempt-bpf watch` is already running (pid 4242)")) << r.out;
}

TEST(Cli, BadRingbufSizeIsAUsageError) {
  auto r = run_gp("watch --ringbuf-kb 3");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r, "power of two")) << r.out;
}

TEST(Cli, RtPriorityOutOfRangeIsAUsageError) {
  auto r = run_gp("preempt --offline-pid 1 --online-pid 1 --rt-priority 100");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(has(r, "--rt-priority")) << r.out;
}

TEST(Cli, PreemptHelpDescribesTheDoorbellOptions) {
  auto r = run_gp("preempt --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(has(r, "--no-doorbell")) << r.out;
  EXPECT_TRUE(has(r, "--rt-priority")) << r.out;
  EXPECT_TRUE(has(r, "--idle-latency-us")) << r.out;
}

TEST(Cli, IdleLatencyOutOfRangeIsAUsageError) {
  auto r = run_gp("preempt --offline-pid 1 --online-pid 1 --idle-latency-us -5");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(has(r, "--idle-latency-us")) << r.out;
}

// --grace lands in the 8-bit SCH_WAVE field of CP_IQ_WAIT_TIME2. Kernel order
// (6.12 amdkfd/kfd_device_queue_manager.c, amdgpu/amdgpu_amdkfd_gfx_v9.c):
//   suspend_queues -> execute_queues_cpsch(.., grace) -> unmap_queues_cpsch:
//   grace != USE_DEFAULT -> pm_update_grace_period -> pm_set_grace_period_v9 ->
//   kgd_gfx_v9_build_grace_period_packet_info: `if (grace == 0) grace = 1;`
//   then REG_SET_FIELD(wait_times, CP_IQ_WAIT_TIME2, SCH_WAVE, grace), which
//   keeps (grace << 8) & 0xFF00: 256 programs 0 = the firmware's infinite grace.
// Anything outside 1..255 is refused before anything is looked at or attached
// (the fake root has no amdgpu: getting past validation would fail differently).
TEST(Cli, GraceOutsideTheEightBitFieldIsRefusedBeforeAnything) {
  gp::test::FakeRoot root;
  struct Case {
    const char* grace;
    const char* why;
  } cases[] = {{"256", "would program 0, an infinite grace"},
               {"512", "would program 0, an infinite grace"},
               {"300", "would program 44"},
               {"4294967294", "would program 254"},
               {"0", "0 is an infinite grace to the firmware"},
               {"-1", "not negative"}};
  for (const auto& c : cases) {
    auto r = run_gp(std::string("preempt --offline-pid 1 --cycles 1 --grace ") + c.grace);
    EXPECT_EQ(r.code, 2) << c.grace << ": " << r.out;
    EXPECT_TRUE(has(r, "must be 1..255")) << c.grace << ": " << r.out;
    EXPECT_TRUE(has(r, c.why)) << c.grace << ": " << r.out;
    EXPECT_TRUE(has(r, "about 1K GPU clocks")) << c.grace << ": " << r.out;
  }
  for (const char* ok : {"1", "255"}) {
    auto r = run_gp(std::string("preempt --offline-pid 1 --cycles 1 --grace ") + ok);
    EXPECT_FALSE(has(r, "--grace")) << ok << " is accepted: " << r.out;
  }
  auto help = run_gp("preempt --help");
  EXPECT_TRUE(has(help, "1..255")) << help.out;
  EXPECT_TRUE(has(help, "1K GPU clocks")) << help.out;
}

TEST(Cli, DoctorOnlinePidThatDoesNotExistIsAUsageError) {
  auto r = run_gp("doctor --online-pid 2147483646");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r, "--online-pid 2147483646: no such process")) << r.out;
}

TEST(Cli, ErrorsAreOneLine) {
  auto r = run_gp("watch -p 999999999");
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << r.out;
}

}  // namespace
