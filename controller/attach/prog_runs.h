// How often each of this process's own BPF programs ran (bpf_prog_info.run_cnt),
// for `latency --prog-runs`: the honest answer to "did the cause probes fire
// although no preemption span came out?" without bpftool. The kernel counts
// runs only while run-time statistics are on, so this holds a BPF_ENABLE_STATS
// fd (released, and the statistics with it, when the object goes away).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace gp {

class ProgRunCounter {
 public:
  // Throws std::runtime_error when the kernel refuses BPF_ENABLE_STATS (< 5.8, no CAP_SYS_ADMIN).
  ProgRunCounter();
  ~ProgRunCounter();
  ProgRunCounter(const ProgRunCounter&) = delete;
  ProgRunCounter& operator=(const ProgRunCounter&) = delete;

  // Program name (the full one, from the object's BTF) -> runs, summed over
  // every program fd this process holds with that name.
  std::map<std::string, std::uint64_t> counts() const;

 private:
  int stats_fd_ = -1;
};

}  // namespace gp
