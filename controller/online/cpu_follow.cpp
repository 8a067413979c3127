#include "online/cpu_follow.h"

#include <pthread.h>

namespace gp {

SubmitCpuFollower::SubmitCpuFollower(bool enabled) : enabled_(enabled) {
  if (enabled_) saved_ = ::pthread_getaffinity_np(::pthread_self(), sizeof(before_), &before_) == 0;
}

SubmitCpuFollower::~SubmitCpuFollower() {
  if (saved_ && cpu_ >= 0) ::pthread_setaffinity_np(::pthread_self(), sizeof(before_), &before_);
}

void SubmitCpuFollower::saw(int cpu) {
  if (!enabled_ || cpu < 0 || cpu >= CPU_SETSIZE || cpu == cpu_) return;
  // Only where the thread was allowed to run to begin with (a cpuset, taskset).
  if (saved_ && !CPU_ISSET(cpu, &before_)) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (::pthread_setaffinity_np(::pthread_self(), sizeof(one), &one) != 0) return;
  cpu_ = cpu;
  ++moves_;
}

}  // namespace gp
