// --idle-latency-us: a CPU latency PM QoS request (/dev/cpu_dma_latency),
// held while the automatic mode runs. A doorbell's wake-up of the detection
// thread on an idle CPU costs that CPU's idle-state exit latency (on a server
// CPU up to ~100 us and more for its deepest states; on a VM, the hypervisor
// waking the vCPU); the request keeps every CPU in states that exit within the
// bound, at the price of idle power. The kernel drops the request when the
// file is closed, so a crashed controller leaves nothing behind.
#pragma once

#include <string>

namespace gp {

inline constexpr const char* kCpuLatencyQosPath = "/dev/cpu_dma_latency";

class CpuLatencyRequest {
 public:
  // us < 0: no request.
  explicit CpuLatencyRequest(int us, const std::string& path = kCpuLatencyQosPath);
  ~CpuLatencyRequest();
  CpuLatencyRequest(const CpuLatencyRequest&) = delete;
  CpuLatencyRequest& operator=(const CpuLatencyRequest&) = delete;

  bool active() const { return fd_ >= 0; }
  int error() const { return error_; }  // errno of a failed request, 0 otherwise

 private:
  int fd_ = -1;
  int error_ = 0;
};

// The kernel's current target over every request, in us, or -errno.
long cpu_latency_target(const std::string& path = kCpuLatencyQosPath);

}  // namespace gp
