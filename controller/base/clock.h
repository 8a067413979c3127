// The one clock: CLOCK_MONOTONIC, the clock bpf_ktime_get_ns() uses, so
// user-space and kernel timestamps of one run compare directly.
#pragma once

#include <time.h>

#include <cstdint>

namespace gp {

inline std::uint64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

inline std::uint64_t monotonic_ns() { return clock_ns(CLOCK_MONOTONIC); }

}  // namespace gp
