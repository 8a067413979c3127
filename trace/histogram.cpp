#include "trace/histogram.h"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

namespace gp::trace {

std::size_t Log2Histogram::slot_of(std::uint64_t value) {
  return value == 0 ? 0 : static_cast<std::size_t>(std::bit_width(value) - 1);
}

void Log2Histogram::add(std::uint64_t value, std::uint64_t count) {
  slots_[slot_of(value)] += count;
  total_ += count;
}

namespace {

// bcc's print_stars: a '+' marks a value past val_max (cannot happen here, but
// kept so the two functions stay line-for-line comparable).
void append_stars(std::string& out, std::uint64_t val, std::uint64_t val_max, int width) {
  auto stars = static_cast<int>(std::min(val, val_max) * static_cast<std::uint64_t>(width) / val_max);
  out.append(static_cast<std::size_t>(stars), '*');
  out.append(static_cast<std::size_t>(width - stars), ' ');
  if (val > val_max) out += '+';
}

}  // namespace

std::string format_log2_hist(const Log2Histogram& h, std::string_view unit) {
  const auto& vals = h.slots();
  int idx_max = -1;
  std::uint64_t val_max = 0;
  for (std::size_t i = 0; i < vals.size(); ++i) {
    if (vals[i] > 0) idx_max = static_cast<int>(i);
    val_max = std::max(val_max, vals[i]);
  }
  if (idx_max < 0) return {};

  const bool narrow = idx_max <= 32;
  std::string out = fmt::format("{:{}}{:<{}} : count    distribution\n", "", narrow ? 5 : 15, unit,
                                narrow ? 19 : 29);
  const int stars = narrow ? 40 : 20;
  const int width = narrow ? 10 : 20;
  for (int i = 0; i <= idx_max; ++i) {
    std::uint64_t low = (std::uint64_t{1} << i);
    std::uint64_t high = i == 63 ? UINT64_MAX : (std::uint64_t{1} << (i + 1)) - 1;
    if (low == high) low -= 1;
    out += fmt::format("{:>{}} -> {:<{}} : {:<8} |", low, width, high, width, vals[static_cast<std::size_t>(i)]);
    append_stars(out, vals[static_cast<std::size_t>(i)], val_max, stars);
    out += "|\n";
  }
  return out;
}

}  // namespace gp::trace
