#include <gtest/gtest.h>

#include "test_events.h"
#include "tracing/queue_map.h"

namespace gp {
namespace {

using test::process_event;
using test::queue_event;

TEST(QueueMap, AddThenRemoveByPointer) {
  QueueMap m;
  EXPECT_EQ(m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xA)), MapChange::Added);
  ASSERT_NE(m.find({100, GP_CONTEXT_PRIMARY, 5}), nullptr);
  EXPECT_EQ(m.qids_of(100), std::vector<std::uint32_t>{5});
  EXPECT_EQ(m.apply(queue_event(EventKind::QueueRemove, 100, 5, 0xA)), MapChange::Removed);
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(m.find({100, GP_CONTEXT_PRIMARY, 5}), nullptr);
}

TEST(QueueMap, RemoveOfUnseenPointerIsIgnoredAndCounted) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xA));
  // uninit_queue also fires for kernel queues (HIQ) and failed creates.
  EXPECT_EQ(m.apply(queue_event(EventKind::QueueRemove, 0, 0, 0xBEEF)), MapChange::Ignored);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m.stats().unseen_removes, 1u);
}

TEST(QueueMap, QidReuseAfterDestroyIsANewQueue) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xA));
  m.apply(queue_event(EventKind::QueueRemove, 100, 5, 0xA));
  EXPECT_EQ(m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xB)), MapChange::Added);
  ASSERT_NE(m.find({100, GP_CONTEXT_PRIMARY, 5}), nullptr);
  EXPECT_EQ(m.find({100, GP_CONTEXT_PRIMARY, 5})->info.queue_kptr, 0xBu);
  // The old pointer is gone: its late remove must not touch the new queue.
  EXPECT_EQ(m.apply(queue_event(EventKind::QueueRemove, 100, 5, 0xA)), MapChange::Ignored);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m.stats().replaced_stale, 0u);
}

TEST(QueueMap, AddOverAMissedRemoveReplacesTheStaleEntry) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xA));
  EXPECT_EQ(m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xB)), MapChange::Added);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m.stats().replaced_stale, 1u);
  EXPECT_EQ(m.find_kptr(0xA), nullptr);
}

TEST(QueueMap, SameQidInTwoProcessesAreTwoQueues) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 0, 0xA, 0x1000));
  m.apply(queue_event(EventKind::QueueAdd, 200, 0, 0xB, 0x2000));
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m.queues_of(100).size(), 1u);
  EXPECT_EQ(m.queues_of(200).size(), 1u);
}

TEST(QueueMap, StateEventsUpdateFlagsOfKnownQueuesOnly) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xA));
  auto st = queue_event(EventKind::QueueState, 100, 5, 0xA, 0x1000, GP_QF_EVICTED, 50);
  st.raw.cause = GP_CAUSE_EVICT;
  EXPECT_EQ(m.apply(st), MapChange::Updated);
  EXPECT_EQ(m.find_kptr(0xA)->info.flags, GP_QF_EVICTED);
  EXPECT_EQ(m.find_kptr(0xA)->changed_ns, 50u);
  // A state change of a queue never added does not invent an entry.
  EXPECT_EQ(m.apply(queue_event(EventKind::QueueState, 100, 6, 0xC)), MapChange::Ignored);
  EXPECT_EQ(m.size(), 1u);
}

TEST(QueueMap, ProcessSweepDropsOnlyThatProcess) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 0, 0xA, 0x1000));
  m.apply(queue_event(EventKind::QueueAdd, 100, 1, 0xB, 0x1000));
  m.apply(queue_event(EventKind::QueueAdd, 200, 0, 0xC, 0x2000));
  EXPECT_EQ(m.apply(process_event(EventKind::ProcessSweep, 100, 0x1000)), MapChange::Removed);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_TRUE(m.queues_of(100).empty());
  EXPECT_EQ(m.stats().swept, 2u);
}

TEST(QueueMap, SweepKeysOnTheKfdProcessNotTheTgid) {
  // 7.x secondary contexts share a tgid but are separate kfd_process objects.
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 0, 0xA, 0x1000));
  auto secondary = queue_event(EventKind::QueueAdd, 100, 0, 0xB, 0x3000);
  secondary.raw.q.context_id = 1;
  m.apply(secondary);
  EXPECT_EQ(m.size(), 2u);
  m.apply(process_event(EventKind::ProcessSweep, 100, 0x3000));
  EXPECT_EQ(m.size(), 1u);
  EXPECT_NE(m.find({100, GP_CONTEXT_PRIMARY, 0}), nullptr);
}

TEST(QueueMap, QpdTerminateMarksTheProcessQueuesOnThatGpuInactive) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 0, 0xA, 0x1000));
  auto other_gpu = queue_event(EventKind::QueueAdd, 100, 1, 0xB, 0x1000);
  other_gpu.raw.q.gpu_id = 999;
  m.apply(other_gpu);
  m.apply(process_event(EventKind::QpdTerminate, 100, 0x1000, 41234));
  EXPECT_EQ(m.find_kptr(0xA)->info.flags & GP_QF_ACTIVE, 0);
  EXPECT_EQ(m.find_kptr(0xB)->info.flags & GP_QF_ACTIVE, GP_QF_ACTIVE);
  EXPECT_EQ(m.size(), 2u);  // freed later by uninit_queue / pqm_uninit
}

TEST(QueueMap, SnapshotAddsPreexistingQueuesAsReconciled) {
  QueueMap m;
  m.begin_reconcile();
  EXPECT_EQ(m.apply(queue_event(EventKind::QueueSnapshot, 100, 3, 0xA)), MapChange::Added);
  // The same queue read through several attributes gives several snapshots.
  EXPECT_EQ(m.apply(queue_event(EventKind::QueueSnapshot, 100, 3, 0xA)), MapChange::Updated);
  m.end_reconcile({{100, 3}});
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m.find_kptr(0xA)->origin, QueueOrigin::Reconciled);
  EXPECT_EQ(m.stats().reconciled_added, 1u);
}

TEST(QueueMap, ReconcileAfterLossDropsQueuesThatVanished) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 0, 0xA));
  m.apply(queue_event(EventKind::QueueAdd, 100, 1, 0xB));
  // The remove of qid 1 was lost. The next pass only sees qid 0 in sysfs.
  m.begin_reconcile();
  m.apply(queue_event(EventKind::QueueSnapshot, 100, 0, 0xA));
  m.end_reconcile({{100, 0}});
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m.find_kptr(0xB), nullptr);
  EXPECT_EQ(m.stats().reconciled_dropped, 1u);
}

TEST(QueueMap, ReconcileKeepsQueuesAddedLiveDuringThePass) {
  QueueMap m;
  m.begin_reconcile();
  // Created after sysfs was listed: only the live add knows about it.
  m.apply(queue_event(EventKind::QueueAdd, 100, 7, 0xA));
  m.end_reconcile({});
  EXPECT_EQ(m.size(), 1u);
}

TEST(QueueMap, ReconcileFindsQueuesWhoseAddWasLost) {
  QueueMap m;
  m.begin_reconcile();
  m.apply(queue_event(EventKind::QueueSnapshot, 300, 2, 0xD));
  m.end_reconcile({{300, 2}});
  ASSERT_NE(m.find({300, GP_CONTEXT_PRIMARY, 2}), nullptr);
}

TEST(QueueMap, ListsAreSortedByProcessThenQid) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 200, 3, 0x1));
  m.apply(queue_event(EventKind::QueueAdd, 100, 9, 0x2));
  m.apply(queue_event(EventKind::QueueAdd, 100, 2, 0x3));
  auto all = m.all();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].tgid, 100u);
  EXPECT_EQ(all[0].info.qid, 2u);
  EXPECT_EQ(all[1].info.qid, 9u);
  EXPECT_EQ(all[2].tgid, 200u);
  EXPECT_EQ(m.qids_of(100), (std::vector<std::uint32_t>{2, 9}));
}

}  // namespace
}  // namespace gp
