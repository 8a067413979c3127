#include "base/sample_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

namespace gp {

namespace {

double rank_us(const std::vector<std::uint64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  // Nearest rank: the smallest sample with at least p% of samples <= it.
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

}  // namespace

double LatencyStats::percentile_us(double p) const {
  auto sorted = samples_;
  std::sort(sorted.begin(), sorted.end());
  return rank_us(sorted, p);
}

LatencySummary LatencyStats::summary() const {
  LatencySummary s;
  if (samples_.empty()) return s;
  auto sorted = samples_;
  std::sort(sorted.begin(), sorted.end());
  s.count = sorted.size();
  s.min_us = static_cast<double>(sorted.front()) / 1000.0;
  s.max_us = static_cast<double>(sorted.back()) / 1000.0;
  s.median_us = rank_us(sorted, 50);
  s.p99_us = rank_us(sorted, 99);
  long double total = std::accumulate(sorted.begin(), sorted.end(), 0.0L);
  s.mean_us = static_cast<double>(total / sorted.size() / 1000.0L);
  return s;
}

std::string format_summary(const LatencySummary& s) {
  if (s.count == 0) return "no samples";
  return fmt::format("min {:.0f} / median {:.0f} / p99 {:.0f} / max {:.0f} us (n={})", s.min_us,
                     s.median_us, s.p99_us, s.max_us, s.count);
}

}  // namespace gp
