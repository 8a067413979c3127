// `queues --hqd` as a binary, in states this host cannot be in: a fake root
// (GPREEMPT_BPF_ROOT) without debugfs, with debugfs but no KFD, with KFD but
// no GPU. Each must fail before anything is attached, with one clear line.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>

#include "fake_root.h"
#include "run_binary.h"

namespace {

using Result = gp::test::CmdResult;

using gp::test::run_gp;

using gp::test::has;

TEST(HqdCli, HelpSaysItReadsLiveRegisters) {
  auto r = run_gp("queues --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(has(r, "--hqd")) << r.out;
  EXPECT_TRUE(has(r, "live registers")) << r.out;
}

TEST(HqdCli, NoDebugfsSaysHowToMountIt) {
  gp::test::FakeRoot root;
  root.write("/proc/mounts", "sysfs /sys sysfs rw 0 0\nproc /proc proc rw 0 0\n");
  auto r = run_gp("queues --hqd");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(has(r, "debugfs is not mounted at /sys/kernel/debug")) << r.out;
  EXPECT_TRUE(has(r, "mount -t debugfs none /sys/kernel/debug")) << r.out;
}

TEST(HqdCli, DebugfsWithoutKfdSaysAmdgpuIsNotLoaded) {
  gp::test::FakeRoot root;
  root.write("/proc/mounts", "debugfs /sys/kernel/debug debugfs rw,relatime 0 0\n");
  root.mkdir("/sys/kernel/debug/tracing");
  auto r = run_gp("queues --hqd --json");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(has(r, "no kfd/ directory")) << r.out;
  EXPECT_TRUE(has(r, "modprobe amdgpu")) << r.out;
}

TEST(HqdCli, KfdWithoutGpuIsRefusedWithoutReadingTheDump) {
  gp::test::FakeRoot root;
  root.write("/proc/mounts", "debugfs /sys/kernel/debug debugfs rw,relatime 0 0\n");
  root.write("/sys/kernel/debug/kfd/hqds", "");
  root.write("/sys/class/kfd/kfd/topology/nodes/0/gpu_id", "0\n");  // the CPU node
  root.write("/sys/class/kfd/kfd/topology/nodes/0/properties", "cpu_cores_count 4\nsimd_count 0\n");
  auto r = run_gp("queues --hqd");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(has(r, "topology lists no GPU")) << r.out;
  EXPECT_TRUE(has(r, "was not read")) << r.out;
}

TEST(HqdCli, HqdAndVerifyExcludeEachOther) {
  auto r = run_gp("queues --hqd --verify");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(has(r, "excludes")) << r.out;
}

}  // namespace
