// `latency`'s arithmetic: units and log2 bucketing, the filter, victims joined
// to their span, MES doorbell resolution, the aggregate and what the attach
// report lets it measure.
#include <gtest/gtest.h>

#include <cerrno>

#include "cli/render/latency.h"
#include "latency/coverage.h"
#include "latency/stats.h"

namespace gp::latency {
namespace {

constexpr std::uint64_t kT0 = 7'000'000'000ull;

gp_preempt_info hws(std::uint32_t t1, std::uint32_t t2, std::uint32_t t3, std::uint64_t total, std::uint32_t remap = 0) {
  gp_preempt_info p{};
  p.t0_ns = kT0;
  p.send_entry_ns = t1;
  p.send_return_ns = t2;
  p.fence_return_ns = t3;
  p.total_ns = total > 0xffffffffull ? 0xffffffffu : static_cast<std::uint32_t>(total);
  p.end_ns = kT0 + total;
  p.remap_ns = remap;
  p.packet_sent = t1 != 0;
  p.gpu_id = 0x1234;
  p.cause_tgid = 100;
  p.cause_qid = ~0u;
  return p;
}

Span span(Cause c, gp_preempt_info p, int ret = 0, std::vector<Victim> v = {}) {
  Span s;
  s.info = p;
  s.cause = c;
  s.ret = ret;
  s.victims = std::move(v);
  return s;
}

TEST(LatencyUnits, MicrosecondsAndMillisecondsTruncateLikeBcc) {
  EXPECT_EQ(to_unit(1'999, Unit::Usecs), 1u);
  EXPECT_EQ(to_unit(450'000, Unit::Usecs), 450u);
  EXPECT_EQ(to_unit(450'000, Unit::Msecs), 0u);
  EXPECT_EQ(to_unit(9'000'300'000ull, Unit::Msecs), 9'000u);
  EXPECT_EQ(unit_name(Unit::Usecs), "usecs");
  EXPECT_EQ(unit_name(Unit::Msecs), "msecs");
}

TEST(LatencyUnits, HistogramBucketsDependOnTheUnit) {
  // 450 us lands in 256..511 us, but in 0..1 ms; 3.5 ms in 2..3 ms.
  Aggregator us(Unit::Usecs), ms(Unit::Msecs);
  for (Aggregator* a : {&us, &ms}) {
    a->add(span(Cause::DbgSuspend, hws(1'000, 2'000, 440'000, 450'000)));
    a->add(span(Cause::DbgSuspend, hws(1'000, 2'000, 3'400'000, 3'500'000)));
  }
  const auto& hu = us.histograms().at("dbg_suspend");
  EXPECT_EQ(hu.slots()[8], 1u);   // 450
  EXPECT_EQ(hu.slots()[11], 1u);  // 3500: 2048..4095
  const auto& hm = ms.histograms().at("dbg_suspend");
  EXPECT_EQ(hm.slots()[0], 1u);  // 0 ms
  EXPECT_EQ(hm.slots()[1], 1u);  // 3 ms: 2..3
  EXPECT_NE(latency_text(us).find("usecs"), std::string::npos);
  EXPECT_NE(latency_text(ms).find("msecs"), std::string::npos);
  EXPECT_NE(latency_text(us).find("256 -> 511"), std::string::npos);
}

TEST(LatencyPhases, MesSpanHasOnlyATotal) {
  gp_preempt_info p{};
  p.t0_ns = kT0;
  p.end_ns = kT0 + 30'000;
  p.total_ns = 30'000;
  p.mes = 1;
  p.packet_sent = 1;
  auto ph = phases_of(p);
  EXPECT_EQ(ph[Phase::Total], 30'000u);
  EXPECT_FALSE(ph[Phase::Grace]);
  EXPECT_FALSE(ph[Phase::Firmware]);
}

TEST(LatencyPhases, TotalFallsBackToTheOffsetWithoutAnEnd) {
  gp_preempt_info p = hws(1, 2, 3, 10);
  p.end_ns = 0;  // an older record
  EXPECT_EQ(total_ns(p), 10u);
}

TEST(LatencyPhases, SaturatedRemapIsUnknown) {
  auto ph = phases_of(hws(100, 200, 300, 400, 0xffffffffu));
  EXPECT_TRUE(ph.saturated);
  EXPECT_FALSE(ph[Phase::Remap]);
}

TEST(LatencyAggregate, CountsErrorsEarlyReturnsAndVictims) {
  Aggregator a;
  // Good span: 3 victims, 2 of them another process's.
  a.add(span(Cause::Create, hws(1'000, 2'000, 40'000, 42'000, 7'000), 0, {{100, 1}, {200, 1}, {300, 2}}));
  // Early return: counted, not histogrammed, no phases.
  a.add(span(Cause::DbgRefresh, hws(0, 0, 0, 800)));
  // Fence timeout: total exact past 4.29 s, phases unknown.
  a.add(span(Cause::DbgSuspend, hws(2'000, 5'000, 0xffffffffu, 9'000'300'000ull), -ETIME, {{100, 1}}));
  // Reset in progress.
  a.add(span(Cause::Destroy, hws(0, 0, 0, 500), -EIO));
  a.add(span(Cause::Update, hws(1, 2, 3, 4), -ENOMEM));

  const Counts& c = a.counts();
  EXPECT_EQ(c.spans, 5u);
  EXPECT_EQ(c.no_packet, 2u);
  EXPECT_EQ(c.etime, 1u);
  EXPECT_EQ(c.eio, 1u);
  EXPECT_EQ(c.other_errors, 1u);
  EXPECT_EQ(c.saturated, 1u);
  EXPECT_EQ(c.victims, 4u);
  EXPECT_EQ(c.max_victims, 3u);
  EXPECT_EQ(c.collateral, 2u);
  EXPECT_FALSE(a.histograms().count("dbg_refresh"));
  EXPECT_EQ(a.histograms().at("dbg_suspend").slots()[trace::Log2Histogram::slot_of(9'000'300u)], 1u);
  // Phases come from the three spans that sent a packet; the timeout has no firmware phase.
  EXPECT_EQ(a.phase_samples(Phase::Total).size(), 3u);
  EXPECT_EQ(a.phase_samples(Phase::Firmware).size(), 2u);
  EXPECT_EQ(a.phase_samples(Phase::Remap).size(), 1u);
  EXPECT_EQ(a.phase_samples(Phase::Submit).size(), 3u);

  auto j = latency_json(a);
  EXPECT_EQ(j["spans"], 5);
  EXPECT_EQ(j["etime"], 1);
  EXPECT_EQ(j["phases_ns"]["firmware"]["count"], 2);
  EXPECT_EQ(j["phases_ns"]["total"]["max_ns"], 9'000'300'000ull);
  EXPECT_EQ(j["histograms"]["create"]["count"], 1);

  std::string text = latency_text(a);
  EXPECT_NE(text.find("cause = create"), std::string::npos);
  EXPECT_NE(text.find("T3-T2 firmware + CWSR"), std::string::npos);
  EXPECT_NE(text.find("2 without a packet"), std::string::npos);
  EXPECT_NE(text.find("1 -ETIME, 1 -EIO"), std::string::npos);
  EXPECT_NE(text.find("past 4.29 s"), std::string::npos);

  a.reset();
  EXPECT_EQ(a.counts().spans, 0u);
  EXPECT_TRUE(a.histograms().empty());
  EXPECT_EQ(latency_text(a), "no preemptions\n");
}

TEST(LatencyAggregate, MesMapsGetTheirOwnLabel) {
  Aggregator a;
  gp_preempt_info p{};
  p.t0_ns = kT0;
  p.end_ns = kT0 + 20'000;
  p.mes = 1;
  p.packet_sent = 1;
  a.add(span(Cause::DbgSuspend, p));
  p.mes_add = 1;
  a.add(span(Cause::DbgResume, p));
  EXPECT_TRUE(a.histograms().count("dbg_suspend"));
  EXPECT_TRUE(a.histograms().count("dbg_resume (map)"));
  EXPECT_EQ(a.counts().mes, 1u);
  EXPECT_EQ(a.counts().mes_maps, 1u);
  EXPECT_TRUE(a.phase_samples(Phase::Total).empty()) << "the phase table is HWS-only";
}

TEST(LatencyFilter, PidMatchesTheCauseOrAVictim) {
  Filter f;
  f.pid = 300;
  EXPECT_FALSE(f.matches(span(Cause::Create, hws(1, 2, 3, 4), 0, {{100, 1}, {200, 2}})));
  EXPECT_TRUE(f.matches(span(Cause::Create, hws(1, 2, 3, 4), 0, {{100, 1}, {300, 2}}))) << "collateral victim";
  auto own = hws(1, 2, 3, 4);
  own.cause_tgid = 300;
  EXPECT_TRUE(f.matches(span(Cause::Create, own))) << "its own cause, even with no victim";
  Span mes = span(Cause::DbgSuspend, hws(0, 0, 0, 4));
  mes.mes_owner = 300;
  EXPECT_TRUE(f.matches(mes));
}

TEST(LatencyFilter, GpuAndCauseMatchExactly) {
  Filter f;
  f.gpu_id = 0x1234;
  f.cause = Cause::DbgSuspend;
  EXPECT_TRUE(f.matches(span(Cause::DbgSuspend, hws(1, 2, 3, 4))));
  EXPECT_FALSE(f.matches(span(Cause::DbgResume, hws(1, 2, 3, 4))));
  auto other = hws(1, 2, 3, 4);
  other.gpu_id = 0x5678;
  EXPECT_FALSE(f.matches(span(Cause::DbgSuspend, other)));
  EXPECT_TRUE(Filter{}.matches(span(Cause::None, other)));
}

TEST(LatencyVictims, JoinedBySeqAndBounded) {
  VictimJoin j(2);
  j.add(1, {100, 1});
  j.add(1, {200, 2});
  j.add(2, {100, 3});
  auto v = j.take(1);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1].pid, 200u);
  EXPECT_TRUE(j.take(1).empty()) << "taken once";
  j.add(3, {1, 1});
  j.add(4, {1, 1});  // three pending seqs > 2: the oldest (2) goes
  EXPECT_EQ(j.dropped(), 1u);
  EXPECT_TRUE(j.take(2).empty());
  EXPECT_EQ(j.take(4).size(), 1u);
  EXPECT_EQ(j.pending(), 1u);
}

TEST(LatencyVictims, SeqsOfCpusFarApartStayApart) {
  // seq = cpu << 32 | counter: the same counter on CPU 0 and CPU 256 used to be
  // one 32-bit value, and the victims of one preemption went to the other.
  const std::uint64_t cpu0 = 9, cpu256 = (std::uint64_t{256} << 32) | 9;
  VictimJoin j;
  j.add(cpu256, {200, 2});
  j.add(cpu0, {100, 1});
  auto v0 = j.take(cpu0);
  ASSERT_EQ(v0.size(), 1u);
  EXPECT_EQ(v0[0].pid, 100u);
  auto v256 = j.take(cpu256);
  ASSERT_EQ(v256.size(), 1u);
  EXPECT_EQ(v256[0].pid, 200u);
}

TEST(LatencyMes, GraphicsUserQueueSpansAreKeptApart) {
  gp_preempt_info p{};
  p.t0_ns = kT0;
  p.end_ns = kT0 + 20'000;
  p.mes = 1;
  p.packet_sent = 1;
  p.flags = GP_PF_NOT_KFD;
  EXPECT_EQ(span_cause(Cause::None, p), Cause::GfxUserq) << "amdgpu's own MES self-test add";
  EXPECT_EQ(span_cause(Cause::Destroy, p), Cause::GfxUserq);
  Aggregator a;
  a.add(span(span_cause(Cause::None, p), p));
  p.flags = 0;
  a.add(span(span_cause(Cause::Destroy, p), p));
  EXPECT_EQ(span_cause(Cause::Destroy, p), Cause::Destroy);
  EXPECT_TRUE(a.histograms().count("gfx_userq"));
  EXPECT_TRUE(a.histograms().count("destroy"));
  EXPECT_EQ(a.counts().not_kfd, 1u);
  EXPECT_NE(latency_text(a).find("1 of amdgpu graphics user queues (not KFD)"), std::string::npos);
  EXPECT_EQ(latency_json(a)["not_kfd"], 1);
}

TEST(LatencyMes, SuspendOfEveryQueueHasItsOwnLabelAndCountsItsVictims) {
  gp_preempt_info p{};
  p.t0_ns = kT0;
  p.end_ns = kT0 + 80'000;
  p.mes = 1;
  p.packet_sent = 1;
  p.flags = GP_PF_ALL_QUEUES;
  p.victims = 3;
  p.cause_tgid = 0;
  Aggregator a;
  // 6.12 kfd_dqm_evict_pasid on MES: suspend all, evict, resume all.
  a.add(span(Cause::Evict, p, 0, {{100, 1}, {200, 2}, {200, 3}}));
  p.mes_add = 1;
  p.victims = 0;
  a.add(span(Cause::Evict, p));
  EXPECT_TRUE(a.histograms().count("evict (all queues)"));
  EXPECT_TRUE(a.histograms().count("evict (all queues) (map)"));
  EXPECT_EQ(a.counts().mes_all, 2u);
  EXPECT_EQ(a.counts().victims, 3u);
}

TEST(LatencyAggregate, UnknownAndTruncatedVictimsAreCountedApart) {
  Aggregator a;
  auto unknown = hws(1'000, 2'000, 40'000, 42'000);
  unknown.flags = GP_PF_VICTIMS_UNKNOWN;
  a.add(span(Cause::Create, unknown));
  auto many = hws(1'000, 2'000, 40'000, 42'000);
  many.flags = GP_PF_VICTIMS_TRUNCATED | GP_PF_QUEUE_RESET;
  many.victims = 600;  // counted in BPF; 2 listed here
  a.add(span(Cause::Update, many, 0, {{100, 1}, {200, 1}}));
  const Counts& c = a.counts();
  EXPECT_EQ(c.victims_unknown, 1u);
  EXPECT_EQ(c.victims_truncated, 1u);
  EXPECT_EQ(c.queue_resets, 1u);
  EXPECT_EQ(c.victims, 600u) << "the span's own count, not the listed ones";
  EXPECT_EQ(c.max_victims, 600u);
  std::string text = latency_text(a);
  EXPECT_NE(text.find("1 preemption with victims unknown"), std::string::npos) << text;
  EXPECT_NE(text.find("1 preemption with more victims than listed"), std::string::npos) << text;
  EXPECT_NE(text.find("1 with a hung-queue reset"), std::string::npos) << text;
  auto j = latency_json(a);
  EXPECT_EQ(j["victims_unknown"], 1);
  EXPECT_EQ(j["victims_truncated"], 1);
  EXPECT_EQ(j["queue_resets"], 1);
}

TEST(LatencyMes, DoorbellResolvesOnlyWhenUnique) {
  gp_queue_info a{}, b{}, c{};
  a.doorbell_off = 0x10;
  a.qid = 1;
  a.gpu_id = 0x1111;
  b.doorbell_off = 0x20;
  b.qid = 2;
  b.gpu_id = 0x1111;
  c.doorbell_off = 0x20;
  c.qid = 5;
  c.gpu_id = 0x2222;  // the same offset on another GPU
  std::vector<std::pair<gp_queue_info, std::uint32_t>> qs = {{a, 100}, {b, 200}, {c, 300}};
  auto o = resolve_doorbell(qs, 0x10);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->pid, 100u);
  EXPECT_EQ(o->qid, 1u);
  EXPECT_EQ(o->gpu_id, 0x1111u);
  EXPECT_FALSE(resolve_doorbell(qs, 0x20)) << "ambiguous";
  EXPECT_FALSE(resolve_doorbell(qs, 0x30));
}

ProbeStatus probe(const char* symbol, const char* program, bool attached, const char* error = "") {
  ProbeStatus p;
  p.spec.symbol = symbol;
  p.spec.program = program;
  p.group = "latency";
  p.attached = attached;
  p.error = error;
  return p;
}

TEST(LatencyCoverage, SaysWhatAMissingProbeCosts) {
  AttachReport r;
  r.probes = {probe("unmap_queues_cpsch", "unmap_queues_entry", true),
              probe("unmap_queues_cpsch", "unmap_queues_return", true),
              probe("pm_send_unmap_queue", "send_unmap_entry", false, "inlined"),
              probe("pm_send_unmap_queue", "send_unmap_return", false, "inlined"),
              probe("map_queues_cpsch", "map_queues_entry", true),
              probe("map_queues_cpsch", "map_queues_return", true),
              probe("pm_send_runlist", "runlist_entry", true),
              probe("mes_v12_0_remove_hw_queue", "mes_remove_entry", false, "only MES GPUs"),
              probe("mes_v12_0_remove_hw_queue", "mes_remove_return", false, "only MES GPUs")};
  auto c = coverage(r);
  EXPECT_TRUE(c.hws);
  EXPECT_FALSE(c.mes);
  EXPECT_TRUE(c.any());
  ASSERT_EQ(c.absent.size(), 2u);
  EXPECT_EQ(c.absent[0].first, "mes_v12_0_remove_hw_queue");
  EXPECT_EQ(c.absent[1].second, "inlined");
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("without a packet"), std::string::npos);
  EXPECT_EQ(c.attached, (std::vector<std::string>{"map_queues_cpsch", "pm_send_runlist", "unmap_queues_cpsch"}));
}

TEST(LatencyCoverage, WithoutTheRunlistProbeVictimsAreNotListed) {
  AttachReport r;
  r.probes = {probe("unmap_queues_cpsch", "unmap_queues_entry", true),
              probe("unmap_queues_cpsch", "unmap_queues_return", true),
              probe("pm_send_unmap_queue", "send_unmap_entry", true),
              probe("pm_send_unmap_queue", "send_unmap_return", true),
              probe("amdkfd_fence_wait_timeout", "fence_wait_return", true),
              probe("map_queues_cpsch", "map_queues_entry", true),
              probe("map_queues_cpsch", "map_queues_return", true),
              probe("pm_send_runlist", "runlist_entry", false, "attach failed: EBUSY")};
  auto c = coverage(r);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("HWS victims"), std::string::npos);
}

TEST(LatencyCoverage, MesOnAnyRemoveOrTheSuspendOfEveryQueue) {
  for (const char* sym : {"mes_v11_0_remove_hw_queue", "mes_v12_1_remove_hw_queue"}) {
    AttachReport r;
    r.probes = {probe(sym, "mes_remove_entry", true), probe(sym, "mes_remove_return", true)};
    EXPECT_TRUE(coverage(r).mes) << sym;
  }
  AttachReport r;
  r.probes = {probe("suspend_all_queues_mes", "mes_suspend_all_entry", true),
              probe("suspend_all_queues_mes", "mes_suspend_all_return", true)};
  EXPECT_TRUE(coverage(r).mes);
}

TEST(LatencyCoverage, HalfAttachedSpanCountsAsAbsent) {
  AttachReport r;
  r.probes = {probe("unmap_queues_cpsch", "unmap_queues_entry", true),
              probe("unmap_queues_cpsch", "unmap_queues_return", false, "attach failed: EBUSY"),
              probe("create_queue_cpsch", "cause_create", true)};
  r.probes.push_back(probe("kfd_ioctl_create_queue", "x", false));
  r.probes.back().group = "lifecycle";  // not a latency probe: ignored
  auto c = coverage(r);
  EXPECT_FALSE(c.any());
  ASSERT_EQ(c.absent.size(), 1u);
  EXPECT_EQ(c.absent[0].second, "attach failed: EBUSY");
  EXPECT_TRUE(c.warnings.empty());
}

}  // namespace
}  // namespace gp::latency
