// attach/uprobe_multi.h: which kernels' uprobe_multi links hear every thread
// of the process they are limited to (6.10 on; 6.6-6.9 only its one thread).
#include <gtest/gtest.h>

#include "attach/uprobe_multi.h"

namespace {

TEST(UprobeMulti, OnlyKernelsThatFilterByProcessAreUsed) {
  for (const char* yes : {"6.10.0", "6.12.117+deb13-amd64", "7.2.13+deb14-amd64", "7.3.4-amd64", "6.18.44-fc-v1272"})
    EXPECT_TRUE(gp::uprobe_multi_filters_by_process(yes)) << yes;
  for (const char* no : {"6.1.0-57-amd64", "6.6.30", "6.8.0-45-generic", "6.9.12", "5.15.0", "", "six.ten"})
    EXPECT_FALSE(gp::uprobe_multi_filters_by_process(no)) << no;
}

}  // namespace
