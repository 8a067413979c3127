// doctor --online-pid's idle-state line, on a fake sysfs.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "fake_root.h"
#include "cli/render/doctor.h"
#include "host/cpu_idle_states.h"

namespace gp {
namespace {

void write_state(const test::FakeRoot& root, int i, const std::string& name, int latency, bool disabled = false) {
  const std::string dir = "/sys/devices/system/cpu/cpu0/cpuidle/state" + std::to_string(i);
  root.write(dir + "/name", name + "\n");
  root.write(dir + "/latency", std::to_string(latency) + "\n");
  root.write(dir + "/disable", disabled ? "1\n" : "0\n");
}

void write_qos(const test::FakeRoot& root, std::int32_t us) {
  root.write("/dev/cpu_dma_latency", std::string(reinterpret_cast<const char*>(&us), sizeof(us)));
}

TEST(CpuIdleStates, ListsTheStatesAndTheDeepestEnabledExitLatency) {
  test::FakeRoot root;
  root.write("/sys/devices/system/cpu/cpuidle/current_driver", "intel_idle\n");
  write_state(root, 0, "POLL", 0);
  write_state(root, 1, "C1", 2);
  write_state(root, 2, "C1E", 10);
  write_state(root, 3, "C6", 170, /*disabled=*/true);
  write_state(root, 4, "C6S", 133);
  write_qos(root, 2'000'000'000);
  const auto info = read_cpu_idle();
  ASSERT_EQ(info.states.size(), 5u);
  EXPECT_EQ(info.driver, "intel_idle");
  EXPECT_EQ(info.deepest_enabled_us(), 133) << "a disabled state is never entered";
  const auto text = describe(info);
  EXPECT_NE(text.find("POLL 0 us, C1 2 us, C1E 10 us, C6 170 us (disabled), C6S 133 us"), std::string::npos) << text;
  EXPECT_NE(text.find("pays up to 133 us"), std::string::npos) << text;
  EXPECT_NE(text.find("no CPU latency request held"), std::string::npos) << text;
  const auto j = to_json(info);
  EXPECT_EQ(j["deepest_enabled_us"], 133);
  EXPECT_EQ(j["states"][3]["disabled"], true);
  EXPECT_EQ(j["driver"], "intel_idle");
}

TEST(CpuIdleStates, AHeldLatencyRequestIsShown) {
  test::FakeRoot root;
  root.write("/sys/devices/system/cpu/cpuidle/current_driver", "acpi_idle\n");
  write_state(root, 0, "C1", 1);
  write_qos(root, 20);
  const auto info = read_cpu_idle();
  EXPECT_EQ(info.qos_target_us, 20);
  EXPECT_NE(describe(info).find("a CPU latency request holds 20 us"), std::string::npos) << describe(info);
}

TEST(CpuIdleStates, NoDriverSaysTheWakeUpIsThePlatforms) {
  test::FakeRoot root;
  root.write("/sys/devices/system/cpu/cpuidle/current_driver", "none\n");
  const auto info = read_cpu_idle();
  EXPECT_TRUE(info.driver.empty());
  EXPECT_TRUE(info.states.empty());
  EXPECT_EQ(info.qos_target_us, -1) << "no /dev/cpu_dma_latency in the fake root";
  EXPECT_NE(describe(info).find("no cpuidle driver"), std::string::npos) << describe(info);
  EXPECT_TRUE(to_json(info)["driver"].is_null());
}

}  // namespace
}  // namespace gp
