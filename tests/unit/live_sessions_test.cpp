// doctor's view of running sessions: gp_lost maps grouped by the process
// holding them (the reading of the maps themselves is a native test).
#include <gtest/gtest.h>

#include "tracing/live_sessions.h"

namespace gp {
namespace {

TEST(LiveSessions, GroupsBothObjectsOfOneSessionAndSumsTheirLoss) {
  // A watch holds two gp_lost maps (lifecycle and latency objects).
  const std::vector<LostMap> maps = {{11, 3, 0}, {12, 4, 1}, {20, 0, 0}};
  const std::vector<std::pair<std::uint32_t, pid_t>> holders = {{11, 100}, {12, 100}, {20, 200}};
  const auto s = group_live_sessions(maps, holders, /*self=*/999);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].pid, 100);
  EXPECT_EQ(s[0].lost_ringbuf, 7u);
  EXPECT_EQ(s[0].lost_stash, 1u);
  EXPECT_EQ(s[0].map_ids, (std::vector<std::uint32_t>{11, 12}));
  EXPECT_EQ(s[1].pid, 200);
  EXPECT_EQ(s[1].lost_ringbuf, 0u);
}

TEST(LiveSessions, TheReaderItselfIsNotAHolder) {
  // Opening a map by id makes doctor a holder too; it must not claim it.
  const std::vector<LostMap> maps = {{5, 9, 0}};
  const auto s = group_live_sessions(maps, {{5, 999}, {5, 100}}, 999);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].pid, 100);
  EXPECT_EQ(s[0].lost_ringbuf, 9u);
}

TEST(LiveSessions, AMapNoProcessHoldsIsReportedUnderPidZero) {
  const auto s = group_live_sessions({{7, 2, 0}}, {{7, 999}}, 999);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].pid, 0);
  EXPECT_EQ(s[0].lost_ringbuf, 2u);
}

TEST(LiveSessions, NoMapsNoSessions) {
  EXPECT_TRUE(group_live_sessions({}, {{1, 2}}, 3).empty());
}

}  // namespace
}  // namespace gp
