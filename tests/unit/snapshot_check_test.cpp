// queues --snapshot-check: the comparison of the map with KFD's own queue
// list, and the read-only debug session that fetches it (fake KFD, inline
// executor): no EC_QUEUE_NEW cleared, no runtime needed, DISABLE at the end.
#include <sys/wait.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/executor.h"
#include "preempt/snapshot_check.h"
#include "preempt/target.h"
#include "preempt_fake_kfd.h"
#include "run_binary.h"
#include "test_events.h"
#include "tracing/queue_map.h"

using gp::test::FakeKfd;
using gp::test::queue_event;

namespace {

constexpr pid_t kSnapshotPid = 4242;

// A map with the given qids of kSnapshotPid, as queue_event() describes them.
gp::QueueMap map_with(std::initializer_list<std::uint32_t> qids) {
  gp::QueueMap m;
  for (auto q : qids) m.apply(queue_event(gp::EventKind::QueueAdd, kSnapshotPid, q, 0xA000 + q));
  return m;
}

// The kernel's view of the same queue, consistent with queue_event().
gp_kfd_queue_snapshot_entry kernel_entry(std::uint32_t qid) {
  auto ev = queue_event(gp::EventKind::QueueAdd, kSnapshotPid, qid, 0xA000 + qid);
  gp_kfd_queue_snapshot_entry e{};
  e.queue_id = qid;
  e.gpu_id = ev.raw.q.gpu_id;
  e.ring_base_address = ev.raw.q.ring_addr;
  e.ring_size = static_cast<std::uint32_t>(ev.raw.q.ring_size);
  e.queue_type = GP_KFD_QUEUE_TYPE_COMPUTE_AQL;
  return e;
}

std::string joined(const gp::SnapshotCheck& c) {
  std::string s;
  for (const auto& d : c.differences) s += d + "\n";
  return s;
}

}  // namespace

TEST(SnapshotCheck, AgreementIsOk) {
  auto m = map_with({2, 5});
  auto c = gp::compare_with_snapshot(kSnapshotPid, m.queues_of(kSnapshotPid), 2, {kernel_entry(2), kernel_entry(5)});
  EXPECT_TRUE(c.ok()) << joined(c);
  EXPECT_EQ(c.compared, 2u);
  EXPECT_EQ(c.kernel_queues, 2u);
}

TEST(SnapshotCheck, EmptyOnBothSidesIsOk) {
  gp::QueueMap m;
  auto c = gp::compare_with_snapshot(kSnapshotPid, m.queues_of(kSnapshotPid), 0, {});
  EXPECT_TRUE(c.ok());
  EXPECT_EQ(c.compared, 0u);
}

TEST(SnapshotCheck, MissingOnEitherSideIsNamed) {
  auto m = map_with({2, 5});
  auto c = gp::compare_with_snapshot(kSnapshotPid, m.queues_of(kSnapshotPid), 2, {kernel_entry(2), kernel_entry(7)});
  EXPECT_FALSE(c.ok());
  ASSERT_EQ(c.differences.size(), 2u) << joined(c);
  EXPECT_EQ(c.differences[0], "pid 4242 qid 5: in the map but not in KFD's queue snapshot");
  EXPECT_EQ(c.differences[1], "pid 4242 qid 7: in KFD's queue snapshot but not in the map");
}

TEST(SnapshotCheck, EveryAttributeIsCompared) {
  auto m = map_with({3});
  auto e = kernel_entry(3);
  e.gpu_id += 1;
  e.ring_base_address += 0x1000;
  e.ring_size /= 2;
  e.queue_type = GP_KFD_QUEUE_TYPE_SDMA;
  auto c = gp::compare_with_snapshot(kSnapshotPid, m.queues_of(kSnapshotPid), 1, {e});
  ASSERT_EQ(c.differences.size(), 4u) << joined(c);
  EXPECT_NE(joined(c).find("gpu 41234 in the map, 41235 in the snapshot"), std::string::npos) << joined(c);
  EXPECT_NE(joined(c).find("ring at 0x7f0000030000 in the map, 0x7f0000031000"), std::string::npos) << joined(c);
  EXPECT_NE(joined(c).find("ring size 65536 in the map, 32768"), std::string::npos) << joined(c);
  EXPECT_NE(joined(c).find("type compute in the map, uapi type 1"), std::string::npos) << joined(c);
}

TEST(SnapshotCheck, PlainComputeTypeIsTheComputeClass) {
  auto m = map_with({3});
  auto e = kernel_entry(3);
  e.queue_type = GP_KFD_QUEUE_TYPE_COMPUTE;  // PM4
  EXPECT_TRUE(gp::compare_with_snapshot(kSnapshotPid, m.queues_of(kSnapshotPid), 1, {e}).ok());
}

TEST(SnapshotCheck, AFailedSnapshotIsAFailureWithTheErrno) {
  auto m = map_with({3});
  auto c = gp::compare_with_snapshot(kSnapshotPid, m.queues_of(kSnapshotPid), -EINVAL, {});
  EXPECT_FALSE(c.ok());
  ASSERT_EQ(c.differences.size(), 1u);
  EXPECT_EQ(c.differences[0], "pid 4242: GET_QUEUE_SNAPSHOT failed: -EINVAL");
}

TEST(SnapshotCheck, MoreQueuesThanTheBufferIsReported) {
  auto m = map_with({2});
  auto c = gp::compare_with_snapshot(kSnapshotPid, m.queues_of(kSnapshotPid), 3, {kernel_entry(2)});
  EXPECT_FALSE(c.ok());
  EXPECT_NE(joined(c).find("the kernel has 3 queues, only 1 fitted"), std::string::npos) << joined(c);
}

TEST(SnapshotCheck, SecondaryContextQueuesAreNotCompared) {
  gp::QueueMap m;
  auto ev = queue_event(gp::EventKind::QueueAdd, kSnapshotPid, 9, 0xB009);
  ev.raw.q.context_id = 1;  // a 7.x secondary kfd_process: not the debug API's
  m.apply(ev);
  auto c = gp::compare_with_snapshot(kSnapshotPid, m.queues_of(kSnapshotPid), 0, {});
  EXPECT_TRUE(c.ok()) << joined(c);
  EXPECT_EQ(c.compared, 0u);
}

// The session around it: ENABLE without waiting for a runtime, a snapshot
// that clears nothing, DISABLE at detach; the target's queues stay flagged new
// for a later preempt, and nothing is suspended.
TEST(SnapshotCheck, ReadOnlySessionOnTheFakeKfd) {
  FakeKfd kfd;
  kfd.proc(kSnapshotPid).runtime_state = GP_KFD_RUNTIME_DISABLED;  // no hsa_init yet: still listable
  for (std::uint32_t q : {2u, 5u}) {
    kfd.create_queue(kSnapshotPid, q);
    auto e = kernel_entry(q);
    auto& fq = kfd.proc(kSnapshotPid).queues[q];
    fq.gpu_id = e.gpu_id;
    fq.ring_addr = e.ring_base_address;
    fq.ring_size = e.ring_size;
  }
  gp::InlineExecutor exec;
  gp::TargetOptions o;
  o.require_runtime = false;
  auto t = gp::Target::attach_on(exec, kfd, kSnapshotPid, o, [] { return false; });
  std::vector<gp_kfd_queue_snapshot_entry> entries;
  int r = t->read_queue_snapshot(&entries);
  t->detach();

  EXPECT_EQ(r, 2);
  const auto* snap = kfd.last(GP_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->mask, 0u) << "a check must not clear EC_QUEUE_NEW";
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_SUSPEND_QUEUES), 0u);
  EXPECT_EQ(kfd.count(GP_KFD_DBG_TRAP_DISABLE), 1u);
  EXPECT_FALSE(kfd.proc(kSnapshotPid).debug_enabled);

  auto m = map_with({2, 5});
  auto c = gp::compare_with_snapshot(kSnapshotPid, m.queues_of(kSnapshotPid), r, entries);
  EXPECT_TRUE(c.ok()) << joined(c);
  auto stale = map_with({2});
  EXPECT_FALSE(gp::compare_with_snapshot(kSnapshotPid, stale.queues_of(kSnapshotPid), r, entries).ok());
}

TEST(SnapshotCheck, WithoutTheOptionARuntimeIsStillRequired) {
  FakeKfd kfd;
  kfd.proc(kSnapshotPid).runtime_state = GP_KFD_RUNTIME_DISABLED;
  gp::InlineExecutor exec;
  EXPECT_THROW(gp::Target::attach_on(exec, kfd, kSnapshotPid, gp::TargetOptions{}, [] { return false; }),
               gp::UserError);
  EXPECT_FALSE(kfd.proc(kSnapshotPid).debug_enabled);
}

// The command line: refusals before anything is attached.
namespace {

using gp::test::run_gp;

}  // namespace

TEST(SnapshotCheckCli, NeedsAPid) {
  auto r = run_gp("queues --snapshot-check");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--snapshot-check needs -p PID"), std::string::npos) << r.out;
}

TEST(SnapshotCheckCli, ExcludesHqd) {
  auto r = run_gp("queues -p 1 --snapshot-check --hqd");
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("excludes"), std::string::npos) << r.out;
}

TEST(SnapshotCheckCli, IsListedInTheHelp) {
  auto r = run_gp("queues --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--snapshot-check"), std::string::npos) << r.out;
}
