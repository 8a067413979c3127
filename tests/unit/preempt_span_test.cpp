// The span assembly, cause stack, victim set and sequence numbers of
// bpf/preempt_span.h: the very code the BPF program runs, compiled here as
// plain C++. The small Tracer below replays the handlers of bpf/preempt.bpf.c
// (per-thread maps, flush on the last pop, emit at T4 or after the remap) so
// the tests can drive kernel call sequences; FakeDqm (further down) replays
// KFD's device queue manager with each cause's own flag flips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bpf/preempt_span.h"
#include "latency/stats.h"

namespace {

gp_cause_frame frame(gp_u32 cause, gp_u32 tgid, gp_u32 qid = GP_NO_QID, gp_u32 trigger = GP_NO_TRIGGER) {
  return {cause, tgid, qid, trigger};
}

// Mirrors bpf/preempt.bpf.c: one cause stack and one span per thread id; a
// span is emitted at T4 unless it waits for its remap, then at the remap's
// return, at the next T0 on that thread, or when the thread's last frame pops.
class Tracer {
 public:
  void push(gp_u32 tid, gp_cause_frame f) { gp_cause_push(&causes_[tid], &f); }
  void pop(gp_u32 tid) {
    auto it = causes_.find(tid);
    if (it == causes_.end()) return;
    gp_cause_pop(&it->second);
    if (it->second.depth == 0) {
      flush(tid);
      causes_.erase(it);
    }
  }
  void unmap_entry(gp_u32 tid, gp_u64 now, gp_u32 gpu = 0x1234, gp_u32 filter = 2, gp_u32 grace = 0xffffffffu,
                   gp_u32 victims = 0) {
    flush(tid);
    seq_ = gp_seq_next_counter(seq_);
    gp_span_begin(&spans_[tid], now, gpu, filter, grace, 0, gp_seq_make(0, seq_));
    spans_[tid].victims = victims;
  }
  void send_entry(gp_u32 tid, gp_u64 now) { if (auto* s = span(tid)) gp_span_send_entry(s, now); }
  void send_return(gp_u32 tid, gp_u64 now) { if (auto* s = span(tid)) gp_span_send_return(s, now); }
  void fence_return(gp_u32 tid, gp_u64 now, int ret) { if (auto* s = span(tid)) gp_span_fence_return(s, now, ret); }
  void unmap_return(gp_u32 tid, gp_u64 now, int ret) {
    auto* sp = span(tid);
    if (!sp) return;
    gp_cause_stack empty{};
    auto it = causes_.find(tid);
    const gp_cause_stack* cs = it == causes_.end() ? &empty : &it->second;
    gp_span_end(sp, now, ret, cs);
    if (!gp_span_waits_for_remap(sp, cs)) emit(*sp);
  }
  void map_entry(gp_u32 tid, gp_u64 now) { if (auto* s = span(tid)) gp_span_map_begin(s, now); }
  void map_return(gp_u32 tid, gp_u64 now) {
    auto* sp = span(tid);
    if (sp && sp->pending) {
      gp_span_map_end(sp, now);
      emit(*sp);
    }
  }

  struct Emitted {
    gp_preempt_info info;
    gp_u32 cause;
    gp_s32 ret;
    gp_u64 seq;  // gp_event.seq
  };
  std::vector<Emitted> out;

 private:
  gp_span* span(gp_u32 tid) {
    auto it = spans_.find(tid);
    return it == spans_.end() ? nullptr : &it->second;
  }
  void flush(gp_u32 tid) {
    auto* sp = span(tid);
    if (sp && sp->pending) emit(*sp);
  }
  void emit(gp_span& sp) {
    Emitted e{};
    gp_span_to_preempt(&sp, &e.info);
    e.cause = sp.cause.cause;
    e.ret = sp.ret;
    e.seq = sp.seq;
    out.push_back(e);
    sp.pending = 0;
  }

  std::map<gp_u32, gp_cause_stack> causes_;
  std::map<gp_u32, gp_span> spans_;
  gp_u32 seq_ = 0;
};

constexpr gp_u64 kT0 = 5'000'000'000ull;  // an arbitrary monotonic time

// ------------------------------------------------------------------ causes

TEST(PreemptCause, EmptyStackHasNoCause) {
  gp_cause_stack s{};
  auto c = gp_cause_current(&s);
  EXPECT_EQ(c.cause, GP_CAUSE_NONE);
  EXPECT_EQ(c.qid, GP_NO_QID);
  EXPECT_EQ(c.trigger, GP_NO_TRIGGER);
}

TEST(PreemptCause, EvictTriggerComesFromTheOuterFrame) {
  // kfd_process_evict_queues(p, trigger) -> evict_process_queues_cpsch(dqm, qpd)
  gp_cause_stack s{};
  auto outer = frame(GP_CAUSE_EVICT, 100, GP_NO_QID, 3);
  auto inner = frame(GP_CAUSE_EVICT, 100);
  gp_cause_push(&s, &outer);
  gp_cause_push(&s, &inner);
  auto c = gp_cause_current(&s);
  EXPECT_EQ(c.cause, GP_CAUSE_EVICT);
  EXPECT_EQ(c.tgid, 100u);
  EXPECT_EQ(c.trigger, 3u);
}

TEST(PreemptCause, InnermostCauseAndObjectWin) {
  // A debugger suspend of pid 100 that updates a queue of pid 200 inside:
  // the unmap belongs to the update of (200, qid 7).
  gp_cause_stack s{};
  auto suspend = frame(GP_CAUSE_DBG_SUSPEND, 100);
  auto update = frame(GP_CAUSE_UPDATE, 200, 7);
  gp_cause_push(&s, &suspend);
  gp_cause_push(&s, &update);
  auto c = gp_cause_current(&s);
  EXPECT_EQ(c.cause, GP_CAUSE_UPDATE);
  EXPECT_EQ(c.tgid, 200u);
  EXPECT_EQ(c.qid, 7u);
  EXPECT_EQ(c.trigger, GP_NO_TRIGGER);
  gp_cause_pop(&s);
  c = gp_cause_current(&s);
  EXPECT_EQ(c.cause, GP_CAUSE_DBG_SUSPEND);
  EXPECT_EQ(c.tgid, 100u);
  EXPECT_EQ(c.qid, GP_NO_QID);
}

TEST(PreemptCause, InnerTriggerOverridesOuterTrigger) {
  gp_cause_stack s{};
  auto a = frame(GP_CAUSE_EVICT, 1, GP_NO_QID, 1);
  auto b = frame(GP_CAUSE_EVICT, 1, GP_NO_QID, 4);
  gp_cause_push(&s, &a);
  gp_cause_push(&s, &b);
  EXPECT_EQ(gp_cause_current(&s).trigger, 4u);
}

TEST(PreemptCause, DepthOverflowKeepsPushAndPopBalanced) {
  gp_cause_stack s{};
  for (gp_u32 i = 0; i < GP_CAUSE_DEPTH + 3; ++i) {
    auto f = frame(GP_CAUSE_CREATE + i % 3, 1000 + i, i);
    gp_cause_push(&s, &f);
  }
  EXPECT_EQ(s.depth, GP_CAUSE_DEPTH + 3u);
  // The frames past the capacity are not stored, and must not overwrite the
  // stored ones (the index is masked for the verifier).
  EXPECT_EQ(s.f[0].tgid, 1000u);
  auto c = gp_cause_current(&s);
  EXPECT_EQ(c.tgid, 1000u + GP_CAUSE_DEPTH - 1);  // innermost stored frame
  for (int i = 0; i < 3; ++i) gp_cause_pop(&s);
  EXPECT_EQ(s.depth, static_cast<gp_u32>(GP_CAUSE_DEPTH));
  EXPECT_EQ(gp_cause_current(&s).tgid, 1000u + GP_CAUSE_DEPTH - 1);
  gp_cause_pop(&s);
  EXPECT_EQ(gp_cause_current(&s).tgid, 1000u + GP_CAUSE_DEPTH - 2);
  for (int i = 0; i < GP_CAUSE_DEPTH - 1; ++i) gp_cause_pop(&s);
  EXPECT_EQ(s.depth, 0u);
  gp_cause_pop(&s);  // a return seen without its entry (attached mid-call)
  EXPECT_EQ(s.depth, 0u);
  EXPECT_EQ(gp_cause_current(&s).cause, GP_CAUSE_NONE);
}

// ------------------------------------------------------------------ spans

TEST(PreemptSpan, FullHwsSpanWithRemap) {
  Tracer t;
  t.push(1, frame(GP_CAUSE_CREATE, 100, 3));
  t.unmap_entry(1, kT0, 0x1234, 2, 0xffffffffu, 5);
  t.send_entry(1, kT0 + 1'000);
  t.send_return(1, kT0 + 3'000);
  t.fence_return(1, kT0 + 40'000, 0);
  t.unmap_return(1, kT0 + 42'000, 0);
  EXPECT_TRUE(t.out.empty()) << "a span with a cause waits for its remap";
  t.map_entry(1, kT0 + 43'000);
  t.map_return(1, kT0 + 50'000);
  ASSERT_EQ(t.out.size(), 1u);
  const auto& p = t.out[0].info;
  EXPECT_EQ(t.out[0].cause, GP_CAUSE_CREATE);
  EXPECT_EQ(p.t0_ns, kT0);
  EXPECT_EQ(p.send_entry_ns, 1'000u);
  EXPECT_EQ(p.send_return_ns, 3'000u);
  EXPECT_EQ(p.fence_return_ns, 40'000u);
  EXPECT_EQ(p.total_ns, 42'000u);
  EXPECT_EQ(p.end_ns, kT0 + 42'000);
  EXPECT_EQ(p.remap_ns, 7'000u);
  EXPECT_EQ(p.packet_sent, 1);
  EXPECT_EQ(p.victims, 5u);
  EXPECT_EQ(p.cause_tgid, 100u);
  EXPECT_EQ(p.cause_qid, 3u);
  EXPECT_EQ(p.gpu_id, 0x1234u);
  t.pop(1);
  EXPECT_EQ(t.out.size(), 1u) << "the pop must not emit the span a second time";

  auto ph = gp::latency::phases_of(p);
  EXPECT_EQ(ph[gp::latency::Phase::Grace], 1'000u);
  EXPECT_EQ(ph[gp::latency::Phase::Submit], 2'000u);
  EXPECT_EQ(ph[gp::latency::Phase::Firmware], 37'000u);
  EXPECT_EQ(ph[gp::latency::Phase::Post], 2'000u);
  EXPECT_EQ(ph[gp::latency::Phase::Remap], 7'000u);
  EXPECT_EQ(ph[gp::latency::Phase::Total], 42'000u);
  EXPECT_FALSE(ph.saturated);
}

TEST(PreemptSpan, EarlyReturnWithoutRunlistSendsNoPacket) {
  // unmap_queues_cpsch returns 0 at once when nothing is mapped: no T1..T3.
  Tracer t;
  t.push(1, frame(GP_CAUSE_DBG_REFRESH, 0));
  t.unmap_entry(1, kT0);
  t.unmap_return(1, kT0 + 800, 0);
  t.pop(1);  // debug_refresh_runlist returns; its map_queues_cpsch sent nothing
  ASSERT_EQ(t.out.size(), 1u);
  const auto& p = t.out[0].info;
  EXPECT_EQ(p.packet_sent, 0);
  EXPECT_EQ(p.send_entry_ns, 0u);
  EXPECT_EQ(p.send_return_ns, 0u);
  EXPECT_EQ(p.fence_return_ns, 0u);
  EXPECT_EQ(p.total_ns, 800u);
  EXPECT_EQ(p.remap_ns, 0u);
  EXPECT_EQ(t.out[0].cause, GP_CAUSE_DBG_REFRESH);
  auto ph = gp::latency::phases_of(p);
  EXPECT_FALSE(ph[gp::latency::Phase::Grace]);
  EXPECT_FALSE(ph[gp::latency::Phase::Firmware]);
  EXPECT_EQ(ph[gp::latency::Phase::Total], 800u);
}

TEST(PreemptSpan, PhasesOutOfOrderOrOutsideASpanAreIgnored) {
  Tracer t;
  t.send_entry(1, kT0);  // no span on this thread yet: nothing to record into
  t.unmap_entry(1, kT0 + 100);
  t.send_return(1, kT0 + 200);   // a return without its entry (missed T1)
  t.fence_return(1, kT0 + 300, 0);  // no T2: not this span's fence
  t.unmap_return(1, kT0 + 400, 0);
  t.send_entry(1, kT0 + 500);    // after T4: another caller's packet
  t.fence_return(1, kT0 + 600, -ETIME);
  ASSERT_EQ(t.out.size(), 1u) << "a bare unmap (no cause frame) is final at T4";
  const auto& p = t.out[0].info;
  EXPECT_EQ(p.packet_sent, 0);
  EXPECT_EQ(p.send_return_ns, 0u);
  EXPECT_EQ(p.fence_return_ns, 0u);
  EXPECT_EQ(p.fence_ret, 0);
  EXPECT_EQ(p.total_ns, 300u);
  EXPECT_EQ(t.out[0].cause, GP_CAUSE_NONE);
}

TEST(PreemptSpan, FenceTimeoutSaturatesOffsetsButKeepsTheExactEnd) {
  // queue_preemption_timeout_ms = 9000: T3 and T4 lie past the u32 offsets' 4.29 s.
  Tracer t;
  t.push(1, frame(GP_CAUSE_DBG_SUSPEND, 100));
  t.unmap_entry(1, kT0, 0x1234, 2, 10);
  t.send_entry(1, kT0 + 2'000);
  t.send_return(1, kT0 + 5'000);
  t.fence_return(1, kT0 + 9'000'100'000ull, -ETIME);
  t.unmap_return(1, kT0 + 9'000'300'000ull, -ETIME);
  ASSERT_EQ(t.out.size(), 1u) << "a failed unmap is not followed by a map: emitted at T4";
  const auto& p = t.out[0].info;
  EXPECT_EQ(t.out[0].ret, -ETIME);
  EXPECT_EQ(p.fence_ret, -ETIME);
  EXPECT_EQ(p.grace, 10u);
  EXPECT_EQ(p.send_return_ns, 5'000u);
  EXPECT_EQ(p.fence_return_ns, 0xffffffffu);
  EXPECT_EQ(p.total_ns, 0xffffffffu);
  EXPECT_EQ(p.end_ns, kT0 + 9'000'300'000ull);
  t.pop(1);
  EXPECT_EQ(t.out.size(), 1u);

  auto ph = gp::latency::phases_of(p);
  EXPECT_TRUE(ph.saturated);
  EXPECT_EQ(ph[gp::latency::Phase::Total], 9'000'300'000ull);
  EXPECT_EQ(ph[gp::latency::Phase::Submit], 3'000u);
  EXPECT_FALSE(ph[gp::latency::Phase::Firmware]) << "T3 is past 4.29 s: unknown, not 4.29 s";
  EXPECT_FALSE(ph[gp::latency::Phase::Post]);
}

TEST(PreemptSpan, EioReturnIsFinalAndKeepsItsCode) {
  // 6.12+: the fence wait returns -EIO on a fatal RAS error; 6.1 returns -EIO
  // before any packet while is_hws_hang is set.
  Tracer t;
  t.push(1, frame(GP_CAUSE_DESTROY, 100, 2));
  t.unmap_entry(1, kT0);
  t.send_entry(1, kT0 + 1'000);
  t.send_return(1, kT0 + 2'000);
  t.fence_return(1, kT0 + 9'000, -EIO);
  t.unmap_return(1, kT0 + 10'000, -EIO);
  t.unmap_entry(1, kT0 + 20'000);
  t.unmap_return(1, kT0 + 20'500, -EIO);
  ASSERT_EQ(t.out.size(), 2u);
  EXPECT_EQ(t.out[0].ret, -EIO);
  EXPECT_EQ(t.out[0].info.fence_ret, -EIO);
  EXPECT_EQ(t.out[0].info.fence_return_ns, 9'000u);
  EXPECT_EQ(t.out[1].ret, -EIO);
  EXPECT_EQ(t.out[1].info.packet_sent, 0);
  t.pop(1);
  EXPECT_EQ(t.out.size(), 2u);
}

TEST(PreemptSpan, RemapWaitRules) {
  gp_cause_stack none{}, create{}, halt{}, stop{};
  auto fc = frame(GP_CAUSE_CREATE, 1, 1), fh = frame(GP_CAUSE_HALT, 0), fs = frame(GP_CAUSE_STOP, 0);
  gp_cause_push(&create, &fc);
  gp_cause_push(&halt, &fh);
  gp_cause_push(&stop, &fs);

  auto ended = [](const gp_cause_stack& cs, int ret) {
    gp_span sp;
    gp_span_begin(&sp, kT0, 1, 2, 0xffffffffu, 0, 1);
    gp_span_end(&sp, kT0 + 10, ret, &cs);
    return sp;
  };
  {
    auto sp = ended(create, 0);
    EXPECT_TRUE(gp_span_waits_for_remap(&sp, &create));
  }
  {
    auto sp = ended(none, 0);
    EXPECT_FALSE(gp_span_waits_for_remap(&sp, &none)) << "nothing would pop to flush it";
  }
  {
    auto sp = ended(create, -ETIME);
    EXPECT_FALSE(gp_span_waits_for_remap(&sp, &create)) << "execute_queues_cpsch maps only after a good unmap";
  }
  {
    auto sp = ended(halt, 0);
    EXPECT_FALSE(gp_span_waits_for_remap(&sp, &halt)) << "halt_cpsch does not remap";
  }
  {
    auto sp = ended(stop, 0);
    EXPECT_FALSE(gp_span_waits_for_remap(&sp, &stop)) << "stop_cpsch does not remap";
  }
}

TEST(PreemptSpan, MapWithoutAPendingSpanRecordsNothing) {
  gp_span sp{};
  gp_span_map_begin(&sp, kT0);
  gp_span_map_end(&sp, kT0 + 5);
  EXPECT_EQ(sp.map_begin, 0u);
  EXPECT_EQ(sp.map_end, 0u);
  // A map return without its entry leaves no remap time.
  gp_cause_stack cs{};
  auto f = frame(GP_CAUSE_RESTORE, 9);
  gp_cause_push(&cs, &f);
  gp_span_begin(&sp, kT0, 1, 2, 0xffffffffu, 0, 1);
  gp_span_end(&sp, kT0 + 10, 0, &cs);
  gp_span_map_end(&sp, kT0 + 20);
  gp_preempt_info p{};
  gp_span_to_preempt(&sp, &p);
  EXPECT_EQ(p.remap_ns, 0u);
}

TEST(PreemptSpan, UnremappedSpanIsFlushedByTheLastPopOrTheNextUnmap) {
  // update_queue unmaps, then maps only if the queue stays active: when no
  // map comes, the span goes out when update_queue returns.
  Tracer t;
  t.push(1, frame(GP_CAUSE_UPDATE, 100, 4));
  t.unmap_entry(1, kT0);
  t.unmap_return(1, kT0 + 100, 0);
  EXPECT_TRUE(t.out.empty());
  t.pop(1);
  ASSERT_EQ(t.out.size(), 1u);
  EXPECT_EQ(t.out[0].info.remap_ns, 0u);

  // Two unmaps under one cause (stop/start style): the second T0 flushes the first.
  t.push(1, frame(GP_CAUSE_DBG_SUSPEND, 100));
  t.unmap_entry(1, kT0 + 1'000);
  t.unmap_return(1, kT0 + 1'100, 0);
  t.unmap_entry(1, kT0 + 2'000);
  ASSERT_EQ(t.out.size(), 2u);
  EXPECT_EQ(t.out[1].info.t0_ns, kT0 + 1'000);
  t.unmap_return(1, kT0 + 2'100, 0);
  t.map_entry(1, kT0 + 2'200);
  t.map_return(1, kT0 + 2'700);
  ASSERT_EQ(t.out.size(), 3u);
  EXPECT_EQ(t.out[2].info.remap_ns, 500u);
  t.pop(1);
  EXPECT_EQ(t.out.size(), 3u);
}

TEST(PreemptSpan, InterleavedThreadsKeepSeparateStacksAndSpans) {
  // Two GPUs, two threads: their calls interleave in time but every point
  // lands in its own thread's span, with its own cause.
  Tracer t;
  t.push(1, frame(GP_CAUSE_CREATE, 100, 1));
  t.push(2, frame(GP_CAUSE_EVICT, 200, GP_NO_QID, 2));
  t.push(2, frame(GP_CAUSE_EVICT, 200));
  t.unmap_entry(1, kT0, 0xaaaa);
  t.unmap_entry(2, kT0 + 10, 0xbbbb);
  t.send_entry(2, kT0 + 20);
  t.send_entry(1, kT0 + 30);
  t.send_return(1, kT0 + 40);
  t.send_return(2, kT0 + 60);
  t.fence_return(2, kT0 + 1'000, 0);
  t.fence_return(1, kT0 + 2'000, 0);
  t.unmap_return(2, kT0 + 1'100, 0);
  t.unmap_return(1, kT0 + 2'100, 0);
  t.map_entry(1, kT0 + 2'200);
  t.map_return(1, kT0 + 2'300);
  ASSERT_EQ(t.out.size(), 1u);
  t.pop(2);
  EXPECT_EQ(t.out.size(), 1u) << "thread 2 still has its outer frame";
  t.pop(2);
  ASSERT_EQ(t.out.size(), 2u);
  t.pop(1);

  const auto& a = t.out[0];
  EXPECT_EQ(a.cause, GP_CAUSE_CREATE);
  EXPECT_EQ(a.info.gpu_id, 0xaaaau);
  EXPECT_EQ(a.info.cause_tgid, 100u);
  EXPECT_EQ(a.info.send_entry_ns, 30u);
  EXPECT_EQ(a.info.send_return_ns, 40u);
  EXPECT_EQ(a.info.fence_return_ns, 2'000u);
  EXPECT_EQ(a.info.remap_ns, 100u);
  EXPECT_EQ(a.info.trigger, GP_NO_TRIGGER);

  const auto& b = t.out[1];
  EXPECT_EQ(b.cause, GP_CAUSE_EVICT);
  EXPECT_EQ(b.info.gpu_id, 0xbbbbu);
  EXPECT_EQ(b.info.cause_tgid, 200u);
  EXPECT_EQ(b.info.trigger, 2u);
  EXPECT_EQ(b.info.t0_ns, kT0 + 10);
  EXPECT_EQ(b.info.send_entry_ns, 10u);
  EXPECT_EQ(b.info.send_return_ns, 50u);
  EXPECT_EQ(b.info.fence_return_ns, 990u);
  EXPECT_EQ(b.info.total_ns, 1'090u);
  EXPECT_EQ(b.info.remap_ns, 0u);
  EXPECT_NE(a.seq, b.seq);
}

TEST(PreemptSpan, OffsetSaturatesAtTheU32Limit) {
  EXPECT_EQ(gp_span_offset(kT0 + 0xffffffffull, kT0), 0xffffffffu);
  EXPECT_EQ(gp_span_offset(kT0 + 0x100000000ull, kT0), 0xffffffffu);
  EXPECT_EQ(gp_span_offset(kT0 + 0xfffffffeull, kT0), 0xfffffffeu);
  EXPECT_EQ(gp_span_offset(0, kT0), 0u) << "0 = the point did not happen";
  EXPECT_EQ(gp_span_offset(kT0 - 1, kT0), 0u) << "a point before T0 is not a phase";
}

// ------------------------------------------------------------------ causes (issue 18)

TEST(PreemptCause, AddressWatchIsItsOwnCauseButNotInsideARefresh) {
  // kfd_dbg_trap_set_dev_address_watch -> debug_lock_and_unmap: dbg_watch.
  gp_cause_stack s{};
  auto watch = frame(GP_CAUSE_DBG_WATCH, 0);
  gp_cause_push_unless_in(&s, &watch, GP_CAUSE_DBG_REFRESH);
  EXPECT_EQ(gp_cause_current(&s).cause, GP_CAUSE_DBG_WATCH);
  gp_cause_pop(&s);
  EXPECT_EQ(s.depth, 0u);

  // debug_refresh_runlist -> debug_lock_and_unmap: still the refresh, and the
  // two pops match the two pushes.
  auto refresh = frame(GP_CAUSE_DBG_REFRESH, 0);
  gp_cause_push(&s, &refresh);
  gp_cause_push_unless_in(&s, &watch, GP_CAUSE_DBG_REFRESH);
  EXPECT_EQ(s.depth, 2u);
  EXPECT_EQ(gp_cause_current(&s).cause, GP_CAUSE_DBG_REFRESH);
  gp_cause_pop(&s);
  EXPECT_EQ(gp_cause_current(&s).cause, GP_CAUSE_DBG_REFRESH);
  gp_cause_pop(&s);
  EXPECT_EQ(s.depth, 0u);
}

TEST(PreemptSpan, ResetByPasidAndAddressWatchDoNotWaitForARemap) {
  // reset_queues_cpsch unmaps with reset=true and never maps again;
  // debug_lock_and_unmap returns with the queues unmapped (its map runs in
  // debug_map_and_unlock, after the frame popped).
  for (gp_u32 cause : {GP_CAUSE_RESET, GP_CAUSE_DBG_WATCH}) {
    gp_cause_stack cs{};
    auto f = frame(cause, 0);
    gp_cause_push(&cs, &f);
    gp_span sp;
    gp_span_begin(&sp, kT0, 1, 2, 0xffffffffu, 0, 1);
    gp_span_end(&sp, kT0 + 10, 0, &cs);
    EXPECT_FALSE(gp_span_waits_for_remap(&sp, &cs)) << cause;
  }
}

TEST(PreemptSpan, MesSpanOfAGraphicsUserQueueIsNotKfd) {
  // 7.2 mes_userq_unmap -> mes_v12_0_remove_hw_queue: same MES function as
  // KFD's remove, told apart by the caller's frame.
  gp_cause_stack cs{};
  auto f = frame(GP_CAUSE_GFX_USERQ, 0);
  gp_cause_push(&cs, &f);
  gp_span sp;
  gp_span_begin_mes(&sp, kT0, 0, 0x1800, 0, 0, gp_seq_make(3, 9));
  gp_span_end(&sp, kT0 + 25'000, 0, &cs);
  gp_preempt_info p{};
  gp_span_to_preempt(&sp, &p);
  EXPECT_TRUE(p.flags & GP_PF_NOT_KFD);
  EXPECT_EQ(p.mes, 1);
  EXPECT_EQ(p.packet_sent, 1);
  EXPECT_EQ(p.doorbell_off, 0x1800u);
  EXPECT_EQ(p.filter, 0u);

  // A KFD remove (destroy frame) is not flagged; an add flagged at entry
  // (is_kfd_process == 0) keeps its flag.
  gp_cause_stack kfd{};
  auto d = frame(GP_CAUSE_DESTROY, 100, 2);
  gp_cause_push(&kfd, &d);
  gp_span_begin_mes(&sp, kT0, 0, 0x1808, 0, 0, gp_seq_make(3, 10));
  gp_span_end(&sp, kT0 + 25'000, 0, &kfd);
  gp_span_to_preempt(&sp, &p);
  EXPECT_FALSE(p.flags & GP_PF_NOT_KFD);
  gp_span_begin_mes(&sp, kT0, 0, 0x1810, 1, GP_PF_NOT_KFD, gp_seq_make(3, 11));
  gp_span_end(&sp, kT0 + 5'000, 0, &kfd);
  gp_span_to_preempt(&sp, &p);
  EXPECT_TRUE(p.flags & GP_PF_NOT_KFD);
  EXPECT_EQ(p.mes_add, 1);
}

// ------------------------------------------------------------------ sequence numbers

TEST(PreemptSeq, CpusFarApartNeverShareASeq) {
  // Victims are joined to their preemption by seq alone. Dual-socket MI300X
  // hosts have 384 threads; the kernels allow 8192 CPUs.
  EXPECT_NE(gp_seq_make(256, 1), gp_seq_make(0, 1));
  EXPECT_NE(gp_seq_make(383, 7), gp_seq_make(127, 7));
  EXPECT_NE(gp_seq_make(8191, 0xffffff), gp_seq_make(8191 - 256, 0xffffff));
  EXPECT_EQ(gp_seq_make(256, 1) >> 32, 256u);
  EXPECT_EQ(gp_seq_make(256, 0x12345678u) & 0xffffffffu, 0x12345678u) << "the whole 32-bit counter is kept";
  EXPECT_EQ(gp_seq_next_counter(0xffffffffu), 1u) << "never 0: seq 0 means no preemption";
  EXPECT_EQ(gp_seq_next_counter(0), 1u);
  EXPECT_EQ(gp_seq_next_counter(41), 42u);
}

TEST(PreemptSeq, TheSpanCarriesTheFullSeq) {
  gp_span sp;
  gp_span_begin(&sp, kT0, 1, 2, 0xffffffffu, 0, gp_seq_make(300, 5));
  EXPECT_EQ(sp.seq, (gp_u64{300} << 32) | 5);
}

// ------------------------------------------------------------------ victims (issue 18, defect 2)
//
// The victims of an HWS preemption are the queues of the runlist the firmware
// was last given (docs/latency.md, "Victims"). FakeDqm replays KFD's device
// queue manager (amdkfd/kfd_device_queue_manager.c, docs/kfd-internals.md §3)
// with each cause's flag flips in the kernel's order, and the BPF handlers of
// bpf/preempt.bpf.c at pm_send_runlist (record), T1 (list) and T4 (forget)
// with the functions of bpf/preempt_span.h.

struct FQueue {
  std::string name;
  bool active = false, evicted = false, suspended = false;
  gp_u64 ring = 0;  // q->properties.queue_address
  // QUEUE_IS_ACTIVE with a ring, a size and a percentage: not evicted, not suspended.
  bool could_run() const { return !evicted && !suspended; }
};

struct FProc {
  gp_u32 pasid = 0;
  std::vector<FQueue*> queues;  // qpd->queues_list
  int evicted = 0;              // qpd->evicted
};

template <typename T>
void erase(std::vector<T*>& v, T* x) {
  v.erase(std::remove(v.begin(), v.end(), x), v.end());
}

class FakeDqm {
 public:
  // KFD's state.
  std::vector<FProc*> procs;  // dqm->queues
  bool sched_running = true, sched_halt = false, active_runlist = false;
  int next_unmap_ret = 0;     // what an unmap that sent its packet returns

  // What the probes reported, one entry per unmap_queues_cpsch call.
  struct Unmap {
    gp_u32 filter = 0;
    bool sent = false;
    std::vector<std::string> victims;  // in runlist order
    gp_u32 count = 0;                  // gp_preempt_info.victims
    gp_u32 flags = 0;                  // gp_preempt_info.flags
  };
  std::vector<Unmap> unmaps;
  bool attached = true;       // probes attached: pm_send_runlist is recorded

  FakeDqm() : rl_(new gp_runlist{}) {}

  const Unmap& last() const { return unmaps.back(); }

  // map_queues_cpsch -> pm_send_runlist (dqm lock held).
  void map() {
    if (!sched_running || sched_halt || active_queue_count() == 0 || procs.empty() || active_runlist) return;
    if (attached) {  // runlist_entry
      gp_runlist_begin(rl_.get());
      for (FProc* p : procs)
        for (FQueue* q : p->queues) gp_runlist_add(rl_.get(), reinterpret_cast<gp_u64>(q), p->pasid, q->active);
    }
    active_runlist = true;
  }

  // unmap_queues_cpsch(dqm, filter, filter_param, grace, reset).
  int unmap(gp_u32 filter = 2, gp_u32 filter_param = 0) {
    Unmap u;
    u.filter = filter;
    gp_span sp;
    gp_span_begin(&sp, kT0, 0x1234, filter, 0xffffffffu, 0, gp_seq_make(0, ++seq_));  // T0
    sp.filter_param = filter_param;
    int ret = 0;
    if (sched_running && active_runlist) {
      gp_span_send_entry(&sp, kT0 + 1'000);  // T1: the packet goes out
      gp_u32 n = gp_span_victims_begin(&sp, rl_.get());
      gp_u32 listed = 0;
      for (gp_u32 i = 0; i < n; ++i) {
        if (!gp_span_victim_hit(&sp, rl_.get(), i)) continue;
        ++listed;
        u.victims.push_back(reinterpret_cast<FQueue*>(rl_->q[i])->name);
      }
      gp_span_victims_done(&sp, rl_.get(), listed);
      u.sent = true;
      ret = next_unmap_ret;
      if (ret == 0) active_runlist = false;  // success only
    }
    gp_runlist_forget(rl_.get());  // T4, whatever it returned
    gp_cause_stack none{};
    gp_span_end(&sp, kT0 + 50'000, ret, &none);
    gp_preempt_info p{};
    gp_span_to_preempt(&sp, &p);
    u.count = p.victims;
    u.flags = p.flags;
    EXPECT_EQ(p.packet_sent, u.sent ? 1 : 0);
    unmaps.push_back(u);
    return ret;
  }

  // execute_queues_cpsch: unmap, then map only after a good unmap.
  int execute(gp_u32 filter = 2) {
    int r = unmap(filter);
    if (!r) map();
    return r;
  }

  int active_queue_count() const {
    int n = 0;
    for (FProc* p : procs)
      for (FQueue* q : p->queues) n += q->active;
    return n;
  }

  // The scheduler start probe forgets the record too.
  void forget() { gp_runlist_forget(rl_.get()); }

 private:
  std::unique_ptr<gp_runlist> rl_;
  gp_u32 seq_ = 0;
};

// ---- the causes, in the kernel's statement order (6.12/7.2 unless noted)

// create_queue_cpsch: pqm registers the process first; then is_evicted from
// qpd->evicted, init_mqd sets is_active, list_add, count, execute.
void k_create(FakeDqm& d, FProc& p, FQueue& q) {
  if (std::find(d.procs.begin(), d.procs.end(), &p) == d.procs.end()) d.procs.push_back(&p);
  q.evicted = p.evicted > 0;
  q.active = q.could_run();
  p.queues.push_back(&q);
  if (q.active) d.execute();
}

// destroy_queue_cpsch, 6.12/7.2: is_active = false, execute, then list_del.
void k_destroy(FakeDqm& d, FProc& p, FQueue& q) {
  if (q.active) {
    q.active = false;
    d.execute();
  }
  erase(p.queues, &q);
}

// destroy_queue_cpsch, 6.1: list_del first; is_active stays true.
void k_destroy_61(FakeDqm& d, FProc& p, FQueue& q) {
  erase(p.queues, &q);
  if (q.active) d.execute();
}

// update_queue: unmap always (no flag change), update_mqd recomputes, map.
void k_update(FakeDqm& d, FQueue& q, bool runs_after) {
  d.unmap();
  q.active = runs_after && q.could_run();
  d.map();
}

// evict_process_queues_cpsch: nested evictions only count; every queue
// is_evicted, the active ones inactive, then execute.
void k_evict(FakeDqm& d, FProc& p) {
  if (p.evicted++ > 0) return;
  for (FQueue* q : p.queues) {
    q->evicted = true;
    q->active = false;
  }
  d.execute();
}

// restore_process_queues_cpsch: the last restore clears is_evicted and makes
// every queue that can run active, then execute.
void k_restore(FakeDqm& d, FProc& p) {
  if (p.evicted > 1) {
    --p.evicted;
    return;
  }
  for (FQueue* q : p.queues) {
    q->evicted = false;
    if (q->could_run()) q->active = true;
  }
  d.execute();
  p.evicted = 0;
}

// process_termination_cpsch: counts down (is_active untouched), unlinks the
// process from dqm->queues, execute, then frees the queues.
void k_terminate(FakeDqm& d, FProc& p) {
  erase(d.procs, &p);
  d.execute();
  p.queues.clear();
}

// suspend_queues -> suspend_single_queue per qid: is_suspended first, then
// an active queue goes inactive; execute only if a queue was newly marked.
void k_suspend(FakeDqm& d, std::vector<FQueue*> qs) {
  bool any = false;
  for (FQueue* q : qs) {
    if (q->suspended) continue;
    q->suspended = true;
    q->active = false;
    any = true;
  }
  if (any) d.execute();
}

// resume_queues -> resume_single_queue: is_suspended = false, active again if
// it can run, then execute.
void k_resume(FakeDqm& d, std::vector<FQueue*> qs) {
  for (FQueue* q : qs) {
    q->suspended = false;
    if (q->could_run()) q->active = true;
  }
  d.execute();
}

// debug_refresh_runlist, address watch (debug_lock_and_unmap +
// debug_map_and_unlock), reserve/release_debug_trap_vmid: no flag change,
// unmap(ALL), map.
void k_unmap_all_and_map(FakeDqm& d) {
  d.unmap(1);
  d.map();
}

void k_halt(FakeDqm& d) {
  d.unmap(1);
  d.sched_halt = true;
}

void k_unhalt(FakeDqm& d) {
  d.sched_halt = false;
  d.execute();
}

void k_stop(FakeDqm& d) {
  d.unmap(1);
  d.sched_running = false;
}

void k_start(FakeDqm& d) {
  d.forget();
  d.sched_running = true;
  d.execute();
}

// reset_queues_cpsch: unmap(BY_PASID, pasid, reset=true), no map.
void k_reset_queues(FakeDqm& d, gp_u32 pasid) { d.unmap(GP_UNMAP_FILTER_BY_PASID, pasid); }

using Names = std::vector<std::string>;

// Two processes on one GPU, all three queues running: the runlist is
// {a1, a2, b1} once the last create has remapped.
struct TwoProcs : ::testing::Test {
  FakeDqm d;
  FProc a{0x8001, {}, 0}, b{0x8002, {}, 0};
  FQueue a1{"a1"}, a2{"a2"}, b1{"b1"}, a3{"a3"};
  void SetUp() override {
    k_create(d, a, a1);
    k_create(d, a, a2);
    k_create(d, b, b1);
    ASSERT_TRUE(d.active_runlist);
    d.unmaps.clear();
  }
};

TEST_F(TwoProcs, CreateHitsWhatRanBeforeNotTheNewQueue) {
  // The new queue is on the list and active before execute runs.
  k_create(d, a, a3);
  ASSERT_EQ(d.unmaps.size(), 1u);
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
  EXPECT_EQ(d.last().count, 3u);
  EXPECT_EQ(d.last().flags, 0u);
}

TEST_F(TwoProcs, DestroyHitsTheDestroyedQueueToo) {
  // 6.12/7.2: is_active cleared before execute.
  k_destroy(d, a, a2);
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
  // ... and the next preemption no longer has it.
  k_create(d, a, a3);
  EXPECT_EQ(d.last().victims, (Names{"a1", "b1"}));
}

TEST_F(TwoProcs, DestroyHitsTheDestroyedQueueTooOn61) {
  // 6.1: list_del before execute, is_active left set.
  k_destroy_61(d, a, a2);
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
}

TEST_F(TwoProcs, UpdateHitsTheRunlistEvenForAnIdleQueue) {
  k_update(d, a1, /*runs_after=*/false);  // e.g. ring size set to 0
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
  k_update(d, a1, /*runs_after=*/false);  // unmapped although a1 is idle
  EXPECT_EQ(d.last().victims, (Names{"a2", "b1"}));
}

TEST_F(TwoProcs, EvictHitsTheEvictedProcessAndRestoreDoesNot) {
  k_evict(d, a);  // a1, a2 inactive before execute
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
  k_evict(d, a);  // nested: only counts, no unmap
  EXPECT_EQ(d.unmaps.size(), 1u);
  k_restore(d, a);  // nested: only counts
  EXPECT_EQ(d.unmaps.size(), 1u);
  k_restore(d, a);  // a1, a2 active again before execute, but were not mapped
  ASSERT_EQ(d.unmaps.size(), 2u);
  EXPECT_EQ(d.last().victims, (Names{"b1"}));
  k_create(d, b, a3);
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
}

TEST_F(TwoProcs, TerminationHitsTheExitingProcess) {
  // Its qpd leaves dqm->queues before execute; is_active stays set.
  k_terminate(d, b);
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
  k_create(d, a, a3);
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2"}));
}

TEST_F(TwoProcs, DebuggerSuspendHitsTheTargetAndResumeDoesNot) {
  k_suspend(d, {&a1, &a2});  // is_suspended, then inactive, before execute
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
  k_suspend(d, {&a1});  // already suspended: no unmap
  EXPECT_EQ(d.unmaps.size(), 1u);
  k_resume(d, {&a1, &a2});  // active again before execute, but not mapped
  EXPECT_EQ(d.last().victims, (Names{"b1"}));
  k_suspend(d, {&a2});
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
}

TEST_F(TwoProcs, SuspendOfAnEvictedQueueHitsOnlyWhatRuns) {
  k_evict(d, b);
  k_suspend(d, {&b1, &a1});  // b1 was evicted: not in the runlist
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2"}));
}

TEST_F(TwoProcs, RefreshWatchAndVmidHitTheRunlist) {
  k_unmap_all_and_map(d);
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
  EXPECT_EQ(d.last().filter, 1u);
  k_unmap_all_and_map(d);
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
}

TEST_F(TwoProcs, HaltHitsTheRunlistUnhaltSendsNothing) {
  k_halt(d);
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
  k_unhalt(d);  // no active runlist: unmap returns at once
  EXPECT_FALSE(d.last().sent);
  EXPECT_TRUE(d.last().victims.empty());
  EXPECT_EQ(d.last().count, 0u);
  EXPECT_EQ(d.last().flags, 0u) << "no packet: nothing unknown either";
  k_create(d, a, a3);
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
}

TEST_F(TwoProcs, StopHitsTheRunlistStartSendsNothing) {
  k_stop(d);
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"}));
  k_create(d, a, a3);  // scheduler not running: no packet
  EXPECT_FALSE(d.last().sent);
  EXPECT_TRUE(d.last().victims.empty());
  k_start(d);
  EXPECT_FALSE(d.last().sent);
  k_destroy(d, a, a3);
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "a3", "b1"}));
}

TEST_F(TwoProcs, ResetByPasidHitsOnlyThatProcess) {
  k_reset_queues(d, b.pasid);
  EXPECT_EQ(d.last().victims, (Names{"b1"}));
  EXPECT_EQ(d.last().count, 1u);
  EXPECT_EQ(d.last().filter, static_cast<gp_u32>(GP_UNMAP_FILTER_BY_PASID));
}

TEST_F(TwoProcs, AFailedUnmapLeavesTheNextVictimsUnknown) {
  d.next_unmap_ret = -ETIME;
  k_create(d, a, a3);
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2", "b1"})) << "the failed one itself is known";
  k_destroy(d, a, a1);  // active_runlist still set: a packet goes out again
  EXPECT_TRUE(d.last().sent);
  EXPECT_TRUE(d.last().victims.empty());
  EXPECT_EQ(d.last().count, 0u);
  EXPECT_EQ(d.last().flags, static_cast<gp_u32>(GP_PF_VICTIMS_UNKNOWN));
}

TEST(PreemptVictims, RunlistUploadedBeforeAttachIsUnknown) {
  FakeDqm d;
  FProc a{0x8001, {}, 0};
  FQueue a1{"a1"}, a2{"a2"};
  d.attached = false;
  k_create(d, a, a1);
  d.attached = true;
  d.unmaps.clear();
  k_create(d, a, a2);
  EXPECT_TRUE(d.last().sent);
  EXPECT_TRUE(d.last().victims.empty());
  EXPECT_EQ(d.last().flags, static_cast<gp_u32>(GP_PF_VICTIMS_UNKNOWN));
  k_destroy(d, a, a2);  // the create's remap was recorded
  EXPECT_EQ(d.last().victims, (Names{"a1", "a2"}));
  EXPECT_EQ(d.last().flags, 0u);
}

TEST(PreemptVictims, MoreQueuesThanOneRecordAreCountedNotListed) {
  FakeDqm d;
  FProc a{0x8001, {}, 0}, b{0x8002, {}, 0};
  std::vector<std::unique_ptr<FQueue>> qs;
  for (int i = 0; i < GP_RUNLIST_MAX + 10; ++i) {
    qs.push_back(std::make_unique<FQueue>());
    qs.back()->name = "q" + std::to_string(i);
    k_create(d, i < GP_RUNLIST_MAX ? a : b, *qs.back());
  }
  k_unmap_all_and_map(d);
  EXPECT_EQ(d.last().victims.size(), static_cast<std::size_t>(GP_RUNLIST_MAX));
  EXPECT_EQ(d.last().count, static_cast<gp_u32>(GP_RUNLIST_MAX + 10));
  EXPECT_EQ(d.last().flags, static_cast<gp_u32>(GP_PF_VICTIMS_TRUNCATED));
  k_reset_queues(d, a.pasid);  // by pasid: only the listed part can be told apart
  EXPECT_EQ(d.last().count, static_cast<gp_u32>(GP_RUNLIST_MAX));
}

// ------------------------------------------------------------------ hung-queue resets (issue 18, defect 8)

// At T4 (dqm lock held) preempt.bpf.c walks dqm->queues x queues_list in order
// and re-reads each queue gp_span_reset_match() picks.
std::vector<std::string> rereads(const gp_span& sp, const std::vector<FQueue*>& in_dqm_order) {
  std::vector<std::string> out;
  gp_u32 matched = 0;
  for (FQueue* q : in_dqm_order)
    if (gp_span_reset_match(&sp, q->ring, &matched)) out.push_back(q->name);
  return out;
}

TEST(PreemptReset, InlinedResetRereadsTheQueueWithTheResetRing) {
  // 6.12 unmap_queues_cpsch: T1, T2, T3 (fence OK), check_preemption_failed,
  // reset_queues_on_hws_hang (inlined): per hung HQD find_queue_by_address,
  // kgd_gfx_v9_hqd_reset returns the ring address it reset, set_queue_as_reset
  // (inlined) makes that queue inactive; kfd_signal_reset_event; T4 = 0.
  FQueue a1{"a1"}, a2{"a2"}, b1{"b1"};
  a1.ring = 0x7f0000100000;
  a2.ring = 0x7f0000200000;
  b1.ring = 0x7f0000100000;  // another process may use the same VA
  gp_span sp;
  gp_span_begin(&sp, kT0, 1, 2, 0xffffffffu, 0, 1);
  gp_span_send_entry(&sp, kT0 + 1);
  gp_span_hqd_reset(&sp, 0);  // a failed HQD reset returns 0: nothing was reset
  EXPECT_FALSE(sp.flags & GP_PF_QUEUE_RESET);
  gp_span_hqd_reset(&sp, a1.ring);
  EXPECT_TRUE(sp.flags & GP_PF_QUEUE_RESET);
  // find_queue_by_address takes the first in dqm->queues order.
  EXPECT_EQ(rereads(sp, {&a1, &a2, &b1}), (Names{"a1"}));
  EXPECT_EQ(rereads(sp, {&b1, &a1, &a2}), (Names{"b1"}));
  gp_span_hqd_reset(&sp, a2.ring);
  EXPECT_EQ(rereads(sp, {&a1, &a2, &b1}), (Names{"a1", "a2"}));

  gp_cause_stack cs{};
  gp_span_end(&sp, kT0 + 100, 0, &cs);
  gp_span_hqd_reset(&sp, b1.ring);  // after T4: not this span's
  EXPECT_EQ(sp.nresets, 2u);
}

TEST(PreemptReset, TheExactProbeReplacesTheAddressMatch) {
  // 7.2: set_queue_as_reset is a function of its own and reports the queue.
  FQueue a1{"a1"};
  a1.ring = 0x7f0000100000;
  gp_span sp;
  gp_span_begin(&sp, kT0, 1, 2, 0xffffffffu, 0, 1);
  gp_span_hqd_reset(&sp, a1.ring);
  gp_span_queue_reset(&sp);
  EXPECT_TRUE(sp.flags & GP_PF_QUEUE_RESET);
  EXPECT_TRUE(rereads(sp, {&a1}).empty());
}

TEST(PreemptReset, PastTheCapacityEveryQueueIsReread) {
  std::vector<std::unique_ptr<FQueue>> qs;
  std::vector<FQueue*> order;
  gp_span sp;
  gp_span_begin(&sp, kT0, 1, 2, 0xffffffffu, 0, 1);
  for (int i = 0; i < GP_SPAN_RESETS + 2; ++i) {
    qs.push_back(std::make_unique<FQueue>());
    qs.back()->name = "q" + std::to_string(i);
    qs.back()->ring = 0x1000 * (i + 1);
    order.push_back(qs.back().get());
    gp_span_hqd_reset(&sp, qs.back()->ring);
  }
  FQueue idle{"idle"};
  idle.ring = 0x99000;
  order.push_back(&idle);
  EXPECT_EQ(rereads(sp, order).size(), order.size()) << "flags are re-read exactly either way";
}

}  // namespace
