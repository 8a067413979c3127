// The span assembly and cause stack of bpf/preempt_span.h: the very code the
// BPF program runs, compiled here as plain C++. The small Tracer below replays
// the handlers of bpf/preempt.bpf.c (per-thread maps, flush on the last pop,
// emit at T4 or after the remap) so the tests can drive kernel call sequences.
#include <gtest/gtest.h>

#include <cerrno>
#include <map>
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
    gp_span_begin(&spans_[tid], now, gpu, filter, grace, 0, ++seq_);
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
  EXPECT_NE(a.info.seq, b.info.seq);
}

TEST(PreemptSpan, OffsetSaturatesAtTheU32Limit) {
  EXPECT_EQ(gp_span_offset(kT0 + 0xffffffffull, kT0), 0xffffffffu);
  EXPECT_EQ(gp_span_offset(kT0 + 0x100000000ull, kT0), 0xffffffffu);
  EXPECT_EQ(gp_span_offset(kT0 + 0xfffffffeull, kT0), 0xfffffffeu);
  EXPECT_EQ(gp_span_offset(0, kT0), 0u) << "0 = the point did not happen";
  EXPECT_EQ(gp_span_offset(kT0 - 1, kT0), 0u) << "a point before T0 is not a phase";
}

}  // namespace
