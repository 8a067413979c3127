// Power-of-two histograms, bucketed and printed exactly like bcc's
// libbpf-tools (bits.bpf.h log2l + trace_helpers.c print_log2_hist), so the
// output of `report` and `latency` reads like funclatency / biolatency:
//
//      usecs               : count    distribution
//          0 -> 1          : 0        |                                        |
//          2 -> 3          : 4        |**********                              |
//
// Slot i holds values v with floor(log2(v)) == i; 0 and 1 share slot 0.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace gp::trace {

class Log2Histogram {
 public:
  static constexpr std::size_t kSlots = 64;

  static std::size_t slot_of(std::uint64_t value);
  void add(std::uint64_t value, std::uint64_t count = 1);

  std::uint64_t total() const { return total_; }
  const std::array<std::uint64_t, kSlots>& slots() const { return slots_; }

 private:
  std::array<std::uint64_t, kSlots> slots_{};
  std::uint64_t total_ = 0;
};

// print_log2_hist(vals, n, unit) as a string; empty when no value was added.
std::string format_log2_hist(const Log2Histogram& h, std::string_view unit);

}  // namespace gp::trace
