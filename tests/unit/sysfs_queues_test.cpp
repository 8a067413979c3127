#include <gtest/gtest.h>

#include "fake_root.h"
#include "test_events.h"
#include "tracing/sysfs_queues.h"

namespace gp {
namespace {

void add_sysfs_queue(const test::FakeRoot& r, int pid, int qid, int gpu, int type, int size) {
  const std::string d = "/sys/class/kfd/kfd/proc/" + std::to_string(pid) + "/queues/" + std::to_string(qid);
  r.write(d + "/gpuid", std::to_string(gpu) + "\n");
  r.write(d + "/type", std::to_string(type) + "\n");
  r.write(d + "/size", std::to_string(size) + "\n");
}

TEST(SysfsQueues, NoKfdMeansNothingListed) {
  test::FakeRoot r;
  auto scan = scan_sysfs_queues();
  EXPECT_FALSE(scan.kfd_present);
  EXPECT_TRUE(scan.queues.empty());
}

TEST(SysfsQueues, ListsEveryProcessAndQueueSorted) {
  test::FakeRoot r;
  add_sysfs_queue(r, 200, 1, 41234, 0, 65536);
  add_sysfs_queue(r, 100, 10, 41234, 1, 4096);
  add_sysfs_queue(r, 100, 2, 41234, 0, 65536);
  r.mkdir("/sys/class/kfd/kfd/proc/300/queues");  // a KFD process without queues
  r.write("/sys/class/kfd/kfd/proc/100/pasid", "32770\n");
  auto scan = scan_sysfs_queues();
  ASSERT_TRUE(scan.kfd_present);
  EXPECT_EQ(scan.pids, (std::vector<std::uint32_t>{100, 200, 300}));
  ASSERT_EQ(scan.queues.size(), 3u);
  EXPECT_EQ(scan.queues[0].qid, 2u);
  EXPECT_EQ(scan.queues[1].qid, 10u);
  EXPECT_EQ(*scan.queues[1].type, 1u);
  EXPECT_EQ(*scan.queues[1].size, 4096u);
  EXPECT_EQ(scan.listed().count({200, 1}), 1u);
}

TEST(SysfsQueues, VerifyAgrees) {
  test::FakeRoot r;
  add_sysfs_queue(r, 100, 5, 41234, 0, 65536);
  QueueMap m;
  m.apply(test::queue_event(EventKind::QueueAdd, 100, 5, 0xA));
  auto v = verify_against_sysfs(m, scan_sysfs_queues());
  EXPECT_TRUE(v.ok()) << (v.differences.empty() ? "" : v.differences[0]);
  EXPECT_EQ(v.compared, 1u);
}

TEST(SysfsQueues, VerifyReportsEveryKindOfDifference) {
  test::FakeRoot r;
  add_sysfs_queue(r, 100, 5, 999, 1, 4096);   // differs in gpu, type class, size
  add_sysfs_queue(r, 100, 6, 41234, 0, 65536); // not in the map
  QueueMap m;
  m.apply(test::queue_event(EventKind::QueueAdd, 100, 5, 0xA));
  m.apply(test::queue_event(EventKind::QueueAdd, 100, 7, 0xB));  // not in sysfs
  auto v = verify_against_sysfs(m, scan_sysfs_queues());
  EXPECT_FALSE(v.ok());
  auto has = [&](const std::string& s) {
    for (const auto& d : v.differences)
      if (d.find(s) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has("qid 5: gpu 41234 in the map, 999 in sysfs"));
  EXPECT_TRUE(has("qid 5: ring size 65536 in the map, 4096 in sysfs"));
  EXPECT_TRUE(has("qid 5: type compute in the map, sysfs type 1"));
  EXPECT_TRUE(has("qid 6: in sysfs but not in the map"));
  EXPECT_TRUE(has("qid 7: in the map but not in sysfs"));
  EXPECT_EQ(v.differences.size(), 5u);
}

}  // namespace
}  // namespace gp
