// Log2Histogram: bcc's bucketing and print_log2_hist layout.
#include <gtest/gtest.h>

#include "trace/histogram.h"

namespace gp::trace {
namespace {

TEST(TraceHistogram, SlotsAreFloorLog2WithZeroAndOneTogether) {
  EXPECT_EQ(Log2Histogram::slot_of(0), 0u);
  EXPECT_EQ(Log2Histogram::slot_of(1), 0u);
  EXPECT_EQ(Log2Histogram::slot_of(2), 1u);
  EXPECT_EQ(Log2Histogram::slot_of(3), 1u);
  EXPECT_EQ(Log2Histogram::slot_of(4), 2u);
  EXPECT_EQ(Log2Histogram::slot_of(1023), 9u);
  EXPECT_EQ(Log2Histogram::slot_of(1024), 10u);
  EXPECT_EQ(Log2Histogram::slot_of(UINT64_MAX), 63u);
}

TEST(TraceHistogram, EmptyPrintsNothing) { EXPECT_EQ(format_log2_hist(Log2Histogram{}, "usecs"), ""); }

TEST(TraceHistogram, PrintsLikeBcc) {
  Log2Histogram h;
  h.add(1);
  for (int i = 0; i < 4; ++i) h.add(5);
  h.add(6, 4);
  h.add(300);
  EXPECT_EQ(h.total(), 10u);
  // Expected text written by hand from trace_helpers.c print_log2_hist:
  // "%*s%-*s : count    distribution" with 5/19, rows "%*lld -> %-*lld : %-8d |" with width 10, 40 stars.
  const char* expected =
      "     usecs               : count    distribution\n"
      "         0 -> 1          : 1        |*****                                   |\n"
      "         2 -> 3          : 0        |                                        |\n"
      "         4 -> 7          : 8        |****************************************|\n"
      "         8 -> 15         : 0        |                                        |\n"
      "        16 -> 31         : 0        |                                        |\n"
      "        32 -> 63         : 0        |                                        |\n"
      "        64 -> 127        : 0        |                                        |\n"
      "       128 -> 255        : 0        |                                        |\n"
      "       256 -> 511        : 1        |*****                                   |\n";
  EXPECT_EQ(format_log2_hist(h, "usecs"), expected);
}

TEST(TraceHistogram, WideLayoutPast32Slots) {
  Log2Histogram h;
  h.add(1ull << 40);
  std::string text = format_log2_hist(h, "nsecs");
  EXPECT_EQ(text.substr(0, text.find('\n')), std::string(15, ' ') + "nsecs                         : count    distribution");
  // 20 stars wide, 20-wide columns: the last row is the full bar.
  EXPECT_NE(text.find("       1099511627776 -> 2199023255551        : 1        |********************|\n"),
            std::string::npos);
}

}  // namespace
}  // namespace gp::trace
