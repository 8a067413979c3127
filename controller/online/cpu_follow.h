// preempt --online-pid, experimental (AutoOptions::follow_submit_cpu, off by
// default; docs/performance.md has why): keeps the loop's thread on the CPU
// where an online process last stored a doorbell. The ring buffer's wake-up
// is raised on the storing CPU; a thread asleep on another CPU is woken with
// an IPI (on a VM: the hypervisor's, p99 150-250 us for an idle vCPU), one
// asleep on the same CPU is woken there. Moving is done after the round's
// decisions, never before a SUSPEND.
#pragma once

#include <sched.h>

#include <cstdint>

namespace gp {

class SubmitCpuFollower {
 public:
  explicit SubmitCpuFollower(bool enabled);
  ~SubmitCpuFollower();  // the thread's affinity as it was
  SubmitCpuFollower(const SubmitCpuFollower&) = delete;
  SubmitCpuFollower& operator=(const SubmitCpuFollower&) = delete;

  // A doorbell stored on `cpu` (-1: unknown): the calling thread moves there
  // unless it is already confined to it.
  void saw(int cpu);
  std::uint64_t moves() const { return moves_; }
  int cpu() const { return cpu_; }  // where it is confined now, -1: nowhere

 private:
  bool enabled_;
  bool saved_ = false;
  cpu_set_t before_{};
  int cpu_ = -1;
  std::uint64_t moves_ = 0;
};

}  // namespace gp
