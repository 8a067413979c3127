// RecordFilter: what a filtered `record` writes, and that preemptions keep
// their victims together.
#include <gtest/gtest.h>

#include <set>

#include "record/filter.h"
#include "test_events.h"

namespace gp::record {
namespace {

using test::process_event;
using test::queue_event;

Event victim(std::uint32_t owner, std::uint32_t qid, std::uint64_t seq) {
  Event ev = queue_event(EventKind::PreemptVictim, owner, qid, 0xffff0000 + qid);
  ev.raw.acting_tgid = 0;  // a kworker or another process preempts
  ev.raw.seq = seq;
  return ev;
}

Event preempt(std::uint32_t acting, std::uint32_t cause_pid, std::uint64_t seq) {
  Event ev;
  ev.raw.kind = GP_EV_PREEMPT;
  ev.raw.tgid = acting;
  ev.raw.acting_tgid = acting;
  ev.raw.seq = seq;
  ev.raw.pre.cause_tgid = cause_pid;
  return ev;
}

std::vector<std::uint32_t> kinds(const std::vector<Event>& evs) {
  std::vector<std::uint32_t> out;
  for (const auto& e : evs) out.push_back(e.raw.kind);
  return out;
}

RecordFilter::Member members(std::set<std::uint32_t> pids) {
  return [pids](std::uint32_t p) { return pids.count(p) > 0; };
}

TEST(RecordFilter, WithoutFilterEverythingPassesInOrder) {
  RecordFilter f;
  EXPECT_FALSE(f.filtering());
  EXPECT_EQ(f.offer(victim(7, 1, 3)).size(), 1u) << "no buffering without a filter";
  EXPECT_EQ(f.offer(preempt(9, 9, 3)).size(), 1u);
  EXPECT_TRUE(f.finish().empty());
  EXPECT_TRUE(f.keeps_owner(12345));
}

TEST(RecordFilter, OwnerActingOrDebugTarget) {
  RecordFilter f(members({100}));
  EXPECT_EQ(f.offer(process_event(EventKind::ProcessCreate, 100, 0x1)).size(), 1u);
  EXPECT_TRUE(f.offer(process_event(EventKind::ProcessCreate, 200, 0x2)).empty());

  Event acted = queue_event(EventKind::QueueState, 200, 3, 0x30);
  acted.raw.acting_tgid = 100;  // our process acted on another's queue
  EXPECT_EQ(f.offer(acted).size(), 1u);

  Event dbg;
  dbg.raw.kind = GP_EV_IOCTL_DBG_TRAP;
  dbg.raw.tgid = dbg.raw.acting_tgid = 300;  // a debugger outside the tree...
  dbg.raw.io.dbg_target_pid = 100;           // ...suspending our queues
  EXPECT_EQ(f.offer(dbg).size(), 1u);
  dbg.raw.io.dbg_target_pid = 400;
  EXPECT_TRUE(f.offer(dbg).empty());
  EXPECT_TRUE(f.keeps_owner(100));
  EXPECT_FALSE(f.keeps_owner(200));
}

TEST(RecordFilter, PreemptionOfOurQueueKeepsAllItsVictims) {
  RecordFilter f(members({100}));
  // Victims come at T0, before their preemption (emitted at the span's end).
  EXPECT_TRUE(f.offer(victim(200, 1, 5)).empty());
  EXPECT_TRUE(f.offer(victim(100, 2, 5)).empty());
  auto out = f.offer(preempt(200, 200, 5));  // caused by someone else
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(kinds(out), (std::vector<std::uint32_t>{GP_EV_PREEMPT_VICTIM, GP_EV_PREEMPT_VICTIM, GP_EV_PREEMPT}));
  EXPECT_EQ(out[0].raw.tgid, 200u) << "the collateral victim stays linked";
  EXPECT_TRUE(f.finish().empty());
}

TEST(RecordFilter, PreemptionWeCausedKeepsOthersVictims) {
  RecordFilter f(members({100}));
  EXPECT_TRUE(f.offer(victim(200, 1, 6)).empty());
  EXPECT_EQ(f.offer(preempt(0, 100, 6)).size(), 2u);  // cause_tgid is ours
}

TEST(RecordFilter, UnrelatedPreemptionIsDroppedWithItsVictims) {
  RecordFilter f(members({100}));
  EXPECT_TRUE(f.offer(victim(200, 1, 7)).empty());
  EXPECT_TRUE(f.offer(victim(201, 4, 7)).empty());
  EXPECT_TRUE(f.offer(preempt(200, 200, 7)).empty());
  // A late victim of a dropped preemption that is ours is still written.
  EXPECT_EQ(f.offer(victim(100, 9, 7)).size(), 1u);
  EXPECT_TRUE(f.offer(victim(202, 9, 7)).empty());
  EXPECT_TRUE(f.finish().empty());
}

TEST(RecordFilter, LateVictimOfAKeptPreemptionIsWritten) {
  RecordFilter f(members({100}));
  EXPECT_EQ(f.offer(preempt(100, 100, 8)).size(), 1u);
  EXPECT_EQ(f.offer(victim(300, 1, 8)).size(), 1u);
}

TEST(RecordFilter, VictimsWithoutTheirPreemptionOnlyOursAtFinish) {
  RecordFilter f(members({100}));
  f.offer(victim(100, 1, 9));
  f.offer(victim(200, 2, 9));
  f.offer(victim(200, 3, 10));
  auto out = f.finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].raw.tgid, 100u);
  EXPECT_EQ(out[0].raw.q.qid, 1u);
}

TEST(RecordFilter, PendingVictimsAreBounded) {
  RecordFilter f(members({100}));
  std::size_t written = 0;
  for (std::uint32_t seq = 0; seq < RecordFilter::kMaxPending + 10; ++seq)
    written += f.offer(victim(100, 1, seq)).size();
  EXPECT_EQ(written, 10u) << "the oldest waiting preemptions give up their victims";
  EXPECT_EQ(f.finish().size(), RecordFilter::kMaxPending);
}

TEST(RecordFilter, SeqIsTheEventsOwn) {
  Event v = victim(100, 1, 11);
  EXPECT_EQ(preempt_seq(v), 11u);
  v.raw.ev_flags = 0;  // a victim without its queue
  EXPECT_EQ(preempt_seq(v), 11u);
  EXPECT_EQ(preempt_seq(preempt(1, 1, 13)), 13u);
}

TEST(RecordFilter, PreemptionsOnCpusFarApartKeepTheirOwnVictims) {
  // seq = cpu << 32 | counter: CPU 0 and CPU 256 with the same counter.
  const std::uint64_t cpu0 = 5, cpu256 = (std::uint64_t{256} << 32) | 5;
  RecordFilter f(members({100}));
  EXPECT_TRUE(f.offer(victim(100, 1, cpu0)).empty());
  EXPECT_TRUE(f.offer(victim(200, 2, cpu256)).empty());
  auto other = f.offer(preempt(300, 300, cpu256));
  EXPECT_TRUE(other.empty()) << "nothing of the tree: neither cause nor victim";
  auto ours = f.offer(preempt(300, 300, cpu0));
  ASSERT_EQ(ours.size(), 2u);
  EXPECT_EQ(ours[0].raw.tgid, 100u);
  EXPECT_EQ(ours[1].raw.kind, GP_EV_PREEMPT);
}

}  // namespace
}  // namespace gp::record
