// The CPU idle states a doorbell's wake-up may have to leave (doctor
// --online-pid): preempt --online-pid's detection thread sleeps between
// submissions, and the wake-up of a sleeping thread on an idle CPU costs that
// CPU's idle-state exit latency. cpu0's cpuidle table stands for every CPU.
#pragma once

#include <string>
#include <vector>

namespace gp {

struct CpuIdleState {
  std::string name;
  long exit_latency_us = 0;
  bool disabled = false;
};

// The CPU latency PM QoS target when nobody has asked for a bound
// (PM_QOS_CPU_LATENCY_DEFAULT_VALUE).
inline constexpr long kNoQosBound = 2'000'000'000;

struct CpuIdleInfo {
  std::string driver;  // empty: no cpuidle driver (idle = halt; on a VM the hypervisor wakes the vCPU)
  std::vector<CpuIdleState> states;
  long qos_target_us = -1;  // the kernel's CPU latency PM QoS target, -1 unreadable
  long deepest_enabled_us() const;
};

CpuIdleInfo read_cpu_idle();

}  // namespace gp
