#include <gtest/gtest.h>

#include "base/error.h"
#include "fake_root.h"
#include "host/host_facts.h"
#include "host/preflight.h"

namespace gp {
namespace {

HostFacts ready_host() {
  HostFacts f;
  f.root = true;
  f.amdgpu_loaded = true;
  f.vmlinux_btf = true;
  f.amdgpu_btf = true;
  return f;
}

std::string first_problem(const HostFacts& f, const std::string& btf = "") {
  auto p = tracing_problems(f, btf);
  return p.empty() ? "" : p.front().what + " / " + p.front().fix;
}

TEST(Preflight, ReadyHostHasNoProblems) { EXPECT_TRUE(tracing_problems(ready_host(), "").empty()); }

TEST(Preflight, NotRoot) {
  auto f = ready_host();
  f.root = false;
  EXPECT_NE(first_problem(f).find("sudo"), std::string::npos);
  EXPECT_THROW(require_tracing_host(f, ""), UserError);
}

TEST(Preflight, NoAmdgpuPointsToTheVmDemo) {
  auto f = ready_host();
  f.amdgpu_loaded = false;
  const auto msg = first_problem(f);
  EXPECT_NE(msg.find("amdgpu driver is not loaded"), std::string::npos);
  EXPECT_NE(msg.find("scripts/vm/demo.sh"), std::string::npos);
  EXPECT_EQ(tracing_problems(f, "").size(), 1u) << "BTF checks are meaningless without amdgpu";
}

TEST(Preflight, NoAmdgpuBtfSaysHowToGetIt) {
  auto f = ready_host();
  f.amdgpu_btf = false;
  const auto msg = first_problem(f);
  EXPECT_NE(msg.find("amdgpu has no BTF"), std::string::npos);
  EXPECT_NE(msg.find("--btf"), std::string::npos);
}

TEST(Preflight, NoKernelBtf) {
  auto f = ready_host();
  f.vmlinux_btf = false;
  EXPECT_NE(first_problem(f).find("CONFIG_DEBUG_INFO_BTF"), std::string::npos);
}

TEST(Preflight, CustomBtfReplacesTheSysfsChecksButMustExist) {
  auto f = ready_host();
  f.amdgpu_btf = false;
  f.vmlinux_btf = false;
  EXPECT_NE(first_problem(f, "/nonexistent/amdgpu.btf").find("no such file"), std::string::npos);
  test::FakeRoot r;
  r.write("/x.btf", "btf");
  EXPECT_TRUE(tracing_problems(f, r.path() + "/x.btf").empty());
}

TEST(HostFacts, ReadsAFakeSysfs) {
  test::FakeRoot r;
  r.mkdir("/sys/module/amdgpu");
  r.write("/sys/module/amdgpu/parameters/sched_policy", "2\n");
  r.write("/sys/module/amdgpu/parameters/cwsr_enable", "1\n");
  r.write("/proc/sys/kernel/yama/ptrace_scope", "1\n");
  r.write("/sys/class/kfd/kfd/topology/nodes/0/gpu_id", "0\n");  // CPU node
  r.write("/sys/class/kfd/kfd/topology/nodes/1/gpu_id", "41234\n");
  auto f = gather_host_facts();
  EXPECT_TRUE(f.amdgpu_loaded);
  EXPECT_FALSE(f.amdgpu_btf);
  EXPECT_EQ(f.sched_policy, 2);
  EXPECT_EQ(sched_policy_name(*f.sched_policy), "NO_HWS");
  EXPECT_EQ(f.cwsr_enable, 1);
  EXPECT_EQ(f.ptrace_scope, 1);
  EXPECT_EQ(f.gpu_ids, std::vector<std::uint32_t>{41234});
  EXPECT_FALSE(f.kfd_dev);
  EXPECT_FALSE(f.kfd_version);
}

TEST(KfdVersionTest, DebugApiFrom113) {
  EXPECT_FALSE((KfdVersion{1, 11}.has_debug_api()));
  EXPECT_TRUE((KfdVersion{1, 13}.has_debug_api()));
  EXPECT_TRUE((KfdVersion{1, 17}.has_debug_api()));
  EXPECT_FALSE((KfdVersion{2, 0}.has_debug_api()));
  EXPECT_EQ((KfdVersion{1, 23}.str()), "1.23");
}

}  // namespace
}  // namespace gp
