// One slot of a BPF per-CPU u64 array (the loss counters, gp_lost), summed
// over every possible CPU; 0 if it cannot be read.
#pragma once

#include <bpf/bpf.h>

#include <cstdint>
#include <vector>

namespace gp {

inline std::uint64_t sum_percpu_slot(int map_fd, std::uint32_t slot, int ncpus) {
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(ncpus), 0);
  if (bpf_map_lookup_elem(map_fd, &slot, per_cpu.data()) != 0) return 0;
  std::uint64_t sum = 0;
  for (auto v : per_cpu) sum += v;
  return sum;
}

}  // namespace gp
