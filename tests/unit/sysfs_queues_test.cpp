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
  EXPECT_EQ(scan.listed().count({200, GP_CONTEXT_PRIMARY, 1}), 1u);
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


// 7.2 kfd_create_process_sysfs (amdkfd/kfd_process.c): a primary context gets
// proc/<pid>/; a secondary one (second open + AMDKFD_IOC_CREATE_PROCESS)
// kobject_init_and_add(.., primary_process->kobj, "context_%u", context_id):
// proc/<pid>/context_<id>/, with its own queues/ (kfd_procfs_add_queue adds to
// q->process->kobj_queues) and qids starting at 0 again.
void add_context_queue(const test::FakeRoot& r, int pid, int ctx, int qid) {
  const std::string d = "/sys/class/kfd/kfd/proc/" + std::to_string(pid) + "/context_" + std::to_string(ctx) +
                        "/queues/" + std::to_string(qid);
  r.write(d + "/gpuid", "41234\n");
  r.write(d + "/type", "0\n");
  r.write(d + "/size", "65536\n");
}

TEST(SysfsQueues, SecondaryContextQueuesAreListedAndReconciliationKeepsThem) {
  test::FakeRoot r;
  add_sysfs_queue(r, 100, 0, 41234, 0, 65536);
  add_context_queue(r, 100, 0, 1);
  QueueMap m;
  m.apply(test::queue_event(EventKind::QueueAdd, 100, 0, 0xA, 0x1000));
  auto secondary = test::queue_event(EventKind::QueueAdd, 100, 1, 0xB, 0x3000);
  secondary.raw.q.context_id = 0;
  secondary.raw.ev_flags |= GP_EVF_SECONDARY;
  m.apply(secondary);
  const auto scan = scan_sysfs_queues();
  EXPECT_EQ(scan.queues.size(), 2u);
  m.begin_reconcile();
  m.end_reconcile(scan.listed());
  EXPECT_NE(m.find_kptr(0xB), nullptr) << "a secondary context's queue is not dropped";
  auto v = verify_against_sysfs(m, scan);
  EXPECT_TRUE(v.ok()) << (v.differences.empty() ? "" : v.differences[0]);
  EXPECT_EQ(v.compared, 2u) << "secondary contexts are compared too";
  ASSERT_EQ(scan.queues.size(), 2u);
  EXPECT_EQ(scan.queues[1].context_id, 0u);
  EXPECT_EQ(scan.listed().count({100, 0, 1}), 1u);
  EXPECT_EQ(scan.listed().count({100, GP_CONTEXT_PRIMARY, 1}), 0u);
}

TEST(SysfsQueues, VerifyNamesTheContextOfASecondaryQueue) {
  test::FakeRoot r;
  add_context_queue(r, 100, 2, 4);
  QueueMap m;
  auto v = verify_against_sysfs(m, scan_sysfs_queues());
  ASSERT_EQ(v.differences.size(), 1u);
  EXPECT_EQ(v.differences[0], "pid 100 context 2 qid 4: in sysfs but not in the map");
}

TEST(SysfsQueues, AQidListedInAnotherContextKeepsNothingAlive) {
  test::FakeRoot r;
  add_context_queue(r, 100, 0, 3);  // only the secondary context has a qid 3
  QueueMap m;
  m.apply(test::queue_event(EventKind::QueueAdd, 100, 3, 0xA, 0x1000));  // primary: its remove was lost
  auto secondary = test::queue_event(EventKind::QueueAdd, 100, 3, 0xB, 0x3000);
  secondary.raw.q.context_id = 0;
  m.apply(secondary);
  m.begin_reconcile();
  m.end_reconcile(scan_sysfs_queues().listed());
  EXPECT_EQ(m.find_kptr(0xA), nullptr);
  EXPECT_NE(m.find_kptr(0xB), nullptr);
}

}  // namespace
}  // namespace gp
