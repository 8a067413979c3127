// Latency samples in ns, summarised as min / median / p99 / max in µs (the
// way preempt's timings are read).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gp {

struct LatencySummary {
  std::size_t count = 0;
  double min_us = 0, median_us = 0, p99_us = 0, max_us = 0, mean_us = 0;
};

class LatencyStats {
 public:
  void add(std::uint64_t ns) { samples_.push_back(ns); }
  std::size_t count() const { return samples_.size(); }
  bool empty() const { return samples_.empty(); }
  // Nearest-rank percentiles over every sample (runs are small: no sketching).
  LatencySummary summary() const;
  double percentile_us(double p) const;

 private:
  std::vector<std::uint64_t> samples_;
};

// "min 312 / median 401 / p99 612 / max 640 us (n=100)", or "no samples".
std::string format_summary(const LatencySummary& s);

}  // namespace gp
