#include <gtest/gtest.h>

#include <cerrno>

#include "test_events.h"
#include "tracing/queue_map.h"

namespace gp {
namespace {

using test::ioctl_event;
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
  m.end_reconcile({{100, GP_CONTEXT_PRIMARY, 3}});
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
  m.end_reconcile({{100, GP_CONTEXT_PRIMARY, 0}});
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
  m.end_reconcile({{300, GP_CONTEXT_PRIMARY, 2}});
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


// ---- Issue 18 #4: the evict/restore walk is unlocked ------------------------
// evict_process_queues_cpsch / restore_process_queues_cpsch (6.12/7.2
// amdkfd/kfd_device_queue_manager.c): dqm_lock ... dqm_unlock, return; our
// fexit then walks qpd->queues_list holding no lock (callers:
// evict_process_worker, kgd2kfd_quiesce_mm, kfd_dqm_evict_pasid; no p->mutex).
// Meanwhile kfd_ioctl_destroy_queue: mutex_lock(&p->mutex) -> pqm_destroy_queue
// -> destroy_queue_cpsch (dqm_lock, list_del, dqm_unlock) -> uninit_queue ->
// kfree(q). The walk can read a freed or reused struct queue: a garbage record.
TEST(QueueMap, AStateRecordNeverReKeysAnEntry) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xA, 0x1000));
  auto garbage = queue_event(EventKind::QueueState, 100, 9, 0xA, 0x1000, GP_QF_EVICTED, 50);
  garbage.raw.cause = GP_CAUSE_EVICT;
  m.apply(garbage);
  ASSERT_NE(m.find({100, GP_CONTEXT_PRIMARY, 5}), nullptr) << "still under its own qid";
  EXPECT_EQ(m.find({100, GP_CONTEXT_PRIMARY, 9}), nullptr);
  EXPECT_EQ(m.find_kptr(0xA)->info.qid, 5u);
  EXPECT_EQ(m.find_kptr(0xA)->info.flags, GP_QF_ACTIVE) << "an inconsistent record changes nothing";
  EXPECT_EQ(m.stats().inconsistent_dropped, 1u);
  EXPECT_EQ(m.stats().updates, 0u);
}

TEST(QueueMap, AStateRecordOfAnotherKfdProcessIsDropped) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xA, 0x1000));
  auto reused = queue_event(EventKind::QueueState, 100, 5, 0xA, 0x2000, GP_QF_EVICTED, 50);
  reused.raw.cause = GP_CAUSE_RESTORE;
  m.apply(reused);
  EXPECT_EQ(m.find_kptr(0xA)->info.flags, GP_QF_ACTIVE);
  EXPECT_EQ(m.find_kptr(0xA)->info.proc_kptr, 0x1000u);
  EXPECT_EQ(m.stats().inconsistent_dropped, 1u);
}

TEST(QueueMap, AConsistentStateRecordTakesFlagsAndOnlyAnUpdateTakesTheRing) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xA, 0x1000));
  auto evict = queue_event(EventKind::QueueState, 100, 5, 0xA, 0x1000, GP_QF_EVICTED, 50);
  evict.raw.cause = GP_CAUSE_EVICT;
  evict.raw.q.ring_size = 1;  // read mid-update: not the evict walk's to set
  EXPECT_EQ(m.apply(evict), MapChange::Updated);
  EXPECT_EQ(m.find_kptr(0xA)->info.flags, GP_QF_EVICTED);
  EXPECT_EQ(m.find_kptr(0xA)->info.ring_size, 65536u);
  auto update = queue_event(EventKind::QueueState, 100, 5, 0xA, 0x1000, GP_QF_ACTIVE, 60);
  update.raw.cause = GP_CAUSE_UPDATE;
  update.raw.q.ring_size = 4096;
  update.raw.q.percent = 50;
  EXPECT_EQ(m.apply(update), MapChange::Updated);
  EXPECT_EQ(m.find_kptr(0xA)->info.ring_size, 4096u);
  EXPECT_EQ(m.find_kptr(0xA)->info.percent, 50u);
  EXPECT_EQ(m.stats().inconsistent_dropped, 0u);
}

// ---- Issue 18 #8: a destroy that fails after sysfs lost the queue -----------
// 6.1 pqm_destroy_queue (amdkfd/kfd_process_queue_manager.c): get_queue_by_qid
// -> kfd_procfs_del_queue(q) [the sysfs entry is gone] -> dqm->ops.destroy_queue
// fails with neither -ETIME nor -EIO (e.g. -ENOMEM: no packet buffer) -> goto
// err_destroy_queue: no uninit_queue, the pqn and the struct queue live on ->
// the ioctl returns the error. sysfs no longer lists a queue that exists.
TEST(QueueMap, AQueueWhoseDestroyFailedSurvivesReconciliationWithoutSysfs) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xA));
  m.apply(ioctl_event(EventKind::IoctlDestroyBegin, 100, 5));
  m.apply(ioctl_event(EventKind::IoctlDestroyQueue, 100, 5, -ENOMEM));
  EXPECT_EQ(m.stats().destroy_failed_kept, 1u);
  m.begin_reconcile();
  m.end_reconcile({});  // sysfs lists nothing
  EXPECT_NE(m.find_kptr(0xA), nullptr);
  m.begin_reconcile();
  m.end_reconcile({});  // nor the next time
  EXPECT_NE(m.find_kptr(0xA), nullptr);
  // It leaves the map when the kernel frees it (pqm_uninit at exit).
  m.apply(queue_event(EventKind::QueueRemove, 100, 5, 0xA));
  EXPECT_EQ(m.size(), 0u);
}

// The same order seen from a reconcile pass that runs while the destroy is in
// flight (after kfd_procfs_del_queue, before the fence wait ends).
TEST(QueueMap, AQueueBeingDestroyedSurvivesAReconcileThatNoLongerSeesIt) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xA));
  m.apply(ioctl_event(EventKind::IoctlDestroyBegin, 100, 5));
  m.begin_reconcile();
  m.end_reconcile({});
  EXPECT_NE(m.find_kptr(0xA), nullptr);
  // One pass only: a destroy whose return and remove were both lost does not
  // keep a ghost for ever.
  m.begin_reconcile();
  m.end_reconcile({});
  EXPECT_EQ(m.find_kptr(0xA), nullptr);
}

// The destroy records of a secondary context (its own qids) never mark the
// primary's queue with the same qid.
TEST(QueueMap, ASecondaryContextsFailedDestroyLeavesThePrimaryAlone) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 0, 0xA, 0x1000));  // the primary's qid 0
  auto begin = ioctl_event(EventKind::IoctlDestroyBegin, 100, 0);
  auto done = ioctl_event(EventKind::IoctlDestroyQueue, 100, 0, -ENOMEM);
  for (auto* ev : {&begin, &done}) {
    ev->raw.ev_flags |= GP_EVF_SECONDARY;
    ev->raw.io.context_id = 0;  // the secondary context's own qid 0
  }
  m.apply(begin);
  m.apply(done);
  EXPECT_EQ(m.stats().destroy_failed_kept, 0u);
  m.begin_reconcile();
  m.end_reconcile({});
  EXPECT_EQ(m.find_kptr(0xA), nullptr) << "the primary's entry got no exemption from it";
}

// -ETIME/-EIO: pqm_destroy_queue goes on to uninit_queue: the queue is gone.
TEST(QueueMap, ADestroyFailingWithEtimeStillFreesTheQueue) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xA));
  m.apply(ioctl_event(EventKind::IoctlDestroyBegin, 100, 5));
  m.apply(queue_event(EventKind::QueueRemove, 100, 5, 0xA));
  m.apply(ioctl_event(EventKind::IoctlDestroyQueue, 100, 5, -ETIME));
  EXPECT_EQ(m.size(), 0u);
}

// -EINVAL: get_queue_by_qid found no such queue; an entry the map still holds
// for that qid is stale (its remove was lost) and reconciliation drops it.
TEST(QueueMap, ADestroyOfAQidTheKernelLacksExemptsNothing) {
  QueueMap m;
  m.apply(queue_event(EventKind::QueueAdd, 100, 5, 0xA));
  m.apply(ioctl_event(EventKind::IoctlDestroyBegin, 100, 5));
  m.apply(ioctl_event(EventKind::IoctlDestroyQueue, 100, 5, -EINVAL));
  m.begin_reconcile();
  m.end_reconcile({});
  EXPECT_EQ(m.size(), 0u);
}

}  // namespace
}  // namespace gp
