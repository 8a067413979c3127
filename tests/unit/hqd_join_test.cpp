// The join of decoded HQDs with the queue map, and its output. The dumps are
// SYNTHETIC (hqd_synthetic.h), shaped like the cases the issue names: one MQD
// on 4 XCCs (MI308X-like, GC 9.4.3), an SDMA RLC queue, the kernel HIQ, a
// stale entry.
#include <gtest/gtest.h>

#include "base/proc.h"
#include "bpf/events.h"
#include "cli/render/hqd.h"
#include "hqd/dump.h"
#include "hqd/join.h"
#include "hqd_synthetic.h"

namespace {

using namespace gp::hqd;
using namespace gp::test;

const GcLayout& gc943() { return *layout_for_gfx_target(90402); }

gp::QueueEntry queue(std::uint32_t pid, std::uint32_t qid, std::uint8_t type, std::uint64_t ring,
                     std::uint32_t doorbell, std::uint32_t gpu_id = 0xbeef, std::uint64_t ring_size = 16384) {
  gp::QueueEntry e;
  e.tgid = pid;
  e.info.qid = qid;
  e.info.type = type;
  e.info.ring_addr = ring;
  e.info.doorbell_off = doorbell;
  e.info.gpu_id = gpu_id;
  e.info.ring_size = ring_size;
  e.info.context_id = GP_CONTEXT_PRIMARY;
  return e;
}

constexpr std::uint64_t kRingA = 0x7f5500000000;  // online's compute queue (4 XCCs)
constexpr std::uint64_t kRingB = 0x7f5600000000;  // online's SDMA queue
constexpr std::uint64_t kRingC = 0x7f9900000000;  // offline's compute queue, not resident
constexpr std::uint64_t kRingStale = 0x7fdead000000;

// GC 9.4.3, 4 XCCs: per XCC a HIQ and 4 CP slots (pipe 0..1, queue 0..1);
// queue A on pipe 1 queue 0 of every XCC; a stale ring on xcc 2 pipe 0
// queue 1; an inactive slot still holding ring C; two SDMA RLCs, one running B.
std::vector<DecodedGpu> mi308x_like() {
  const auto& l = gc943();
  std::string t = node_header(2, 0xbeef);
  for (int x = 0; x < 4; ++x) {
    t += hiq_header(x) + seq_reg_dump(cp_regs(l.cp, cp_base(x) + 0x400, {.active = true, .ring = 0xf5000000 + 0x1000u * x}));
    for (unsigned pipe = 0; pipe < 2; ++pipe)
      for (unsigned q = 0; q < 2; ++q) {
        CpState s;
        if (pipe == 1 && q == 0) s = {.active = true, .ring = kRingA, .doorbell = 0x400, .vmid = 9};
        if (x == 2 && pipe == 0 && q == 1) s = {.active = true, .ring = kRingStale, .doorbell = 0x777, .vmid = 10};
        if (x == 3 && pipe == 0 && q == 0) s = {.active = false, .ring = kRingC, .doorbell = 0x402};
        t += cp_header(x, pipe, q) + seq_reg_dump(cp_regs(l.cp, cp_base(x), s));
      }
  }
  t += sdma_header(0, 0) + seq_reg_dump(sdma_regs(l.sdma, sdma_base(l.sdma, 0, 0), {.enabled = true, .ring = kRingB, .doorbell = 0x4f0}));
  t += sdma_header(0, 1) + seq_reg_dump(sdma_regs(l.sdma, sdma_base(l.sdma, 0, 1), {}));
  const ParsedHqds p = parse_hqds(t);
  EXPECT_TRUE(p.ok());
  return decode_hqds(p, {{0xbeef, 90402}});
}

std::vector<gp::QueueEntry> mi308x_map() {
  return {queue(100, 0, GP_QTYPE_COMPUTE, kRingA, 0x400), queue(100, 1, GP_QTYPE_SDMA, kRingB, 0x4f0),
          queue(200, 0, GP_QTYPE_COMPUTE, kRingC, 0x402)};
}

TEST(HqdJoin, OneMqdOnFourXccsIsFourSlots) {
  const HqdJoin j = join_hqds(mi308x_like(), mi308x_map());
  ASSERT_EQ(j.queues.size(), 3u);
  const auto& a = j.queues[0];
  EXPECT_EQ(a.entry.tgid, 100u);
  ASSERT_EQ(a.slots.size(), 4u);
  for (int x = 0; x < 4; ++x) {
    EXPECT_EQ(a.slots[x].xcc, x);
    EXPECT_EQ(a.slots[x].pipe, 1u);
    EXPECT_EQ(a.slots[x].queue, 0u);
    EXPECT_EQ(a.slots[x].kind, HqdKind::Cp);
  }
  EXPECT_TRUE(a.notes.empty()) << a.notes.front();
  ASSERT_EQ(j.processes.size(), 2u);
  EXPECT_EQ(j.processes[0].pid, 100u);
  EXPECT_EQ(j.processes[0].queues, 2u);
  EXPECT_EQ(j.processes[0].resident, 2u);
  EXPECT_EQ(j.processes[0].cp_slots, 4u);
  EXPECT_EQ(j.processes[0].sdma_slots, 1u);
}

TEST(HqdJoin, SdmaRlcQueue) {
  const HqdJoin j = join_hqds(mi308x_like(), mi308x_map());
  const auto& b = j.queues[1];
  ASSERT_EQ(b.slots.size(), 1u);
  EXPECT_EQ(b.slots[0].kind, HqdKind::Sdma);
  EXPECT_EQ(b.slots[0].pipe, 0u);
  EXPECT_EQ(b.slots[0].queue, 0u);
  // A compute queue with the SDMA ring is not put on an SDMA slot.
  auto map = mi308x_map();
  map[1].info.type = GP_QTYPE_COMPUTE;
  const HqdJoin k = join_hqds(mi308x_like(), map);
  EXPECT_TRUE(k.queues[1].slots.empty());
  EXPECT_EQ(k.unmatched.size(), 2u);  // the stale CP slot and now the SDMA slot
}

TEST(HqdJoin, HiqIsAKernelQueueNotAStaleOne) {
  const HqdJoin j = join_hqds(mi308x_like(), mi308x_map());
  ASSERT_EQ(j.kernel.size(), 4u);
  for (const auto& h : j.kernel) EXPECT_EQ(h.kind, HqdKind::Hiq);
  ASSERT_EQ(j.gpus.size(), 1u);
  const auto& g = j.gpus[0];
  EXPECT_EQ(g.gc, "9.4.3");
  EXPECT_EQ(g.xccs, 4u);
  EXPECT_EQ(g.hiq_total, 4u);
  EXPECT_EQ(g.hiq_active, 4u);
  EXPECT_EQ(g.cp_total, 16u);
  EXPECT_EQ(g.cp_active, 5u);  // 4 x queue A + the stale one
  EXPECT_EQ(g.sdma_total, 2u);
  EXPECT_EQ(g.sdma_active, 1u);
}

TEST(HqdJoin, StaleEntryIsFlaggedAndInactiveSlotsDoNotCount) {
  const HqdJoin j = join_hqds(mi308x_like(), mi308x_map());
  ASSERT_EQ(j.unmatched.size(), 1u);
  EXPECT_EQ(j.unmatched[0].hqd.ring, kRingStale);
  EXPECT_EQ(j.unmatched[0].hqd.xcc, 2);
  EXPECT_EQ(j.unmatched[0].hqd.vmid, 10u);
  EXPECT_NE(j.unmatched[0].reason.find("stale"), std::string::npos);
  // Queue C's ring is only in an inactive slot: not resident.
  EXPECT_TRUE(j.queues[2].slots.empty());
  EXPECT_EQ(j.processes[1].resident, 0u);
  // The same dump against an empty map: every active user slot is unmatched, HIQs are not.
  const HqdJoin e = join_hqds(mi308x_like(), {});
  EXPECT_EQ(e.unmatched.size(), 6u);
  EXPECT_EQ(e.kernel.size(), 4u);
}

TEST(HqdJoin, SameRingInTwoProcessesIsSplitByDoorbellAndGpu) {
  const auto& l = gc943();
  std::string t = node_header(1, 0x10) + cp_header(0, 0, 0) +
                  seq_reg_dump(cp_regs(l.cp, cp_base(0), {.active = true, .ring = kRingA, .doorbell = 0x20}));
  t += cp_header(0, 0, 1) + seq_reg_dump(cp_regs(l.cp, cp_base(0), {.active = true, .ring = kRingA, .doorbell = 0x30}));
  const auto d = decode_hqds(parse_hqds(t), {{0x10, 90402}});
  const HqdJoin j = join_hqds(d, {queue(1, 0, GP_QTYPE_COMPUTE, kRingA, 0x30, 0x10),
                                  queue(2, 0, GP_QTYPE_COMPUTE, kRingA, 0x20, 0x10),
                                  queue(3, 0, GP_QTYPE_COMPUTE, kRingA, 0x20, 0x99)});  // other GPU
  ASSERT_EQ(j.queues.size(), 3u);
  ASSERT_EQ(j.queues[0].slots.size(), 1u);
  EXPECT_EQ(j.queues[0].slots[0].queue, 1u);
  ASSERT_EQ(j.queues[1].slots.size(), 1u);
  EXPECT_EQ(j.queues[1].slots[0].queue, 0u);
  EXPECT_TRUE(j.queues[2].slots.empty());
  EXPECT_TRUE(j.unmatched.empty());
}

TEST(HqdJoin, DisagreementsBecomeNotes) {
  const auto& l = gc943();
  const std::string t = node_header(1, 0x10) + cp_header(0, 0, 0) +
                        seq_reg_dump(cp_regs(l.cp, cp_base(0), {.active = true, .ring = kRingA, .doorbell = 0x21}));
  const auto d = decode_hqds(parse_hqds(t), {{0x10, 90402}});
  const HqdJoin j = join_hqds(d, {queue(1, 0, GP_QTYPE_COMPUTE, kRingA, 0x20, 0x10, 8192)});
  ASSERT_EQ(j.queues[0].slots.size(), 1u);
  ASSERT_EQ(j.queues[0].notes.size(), 2u);
  EXPECT_NE(j.queues[0].notes[0].find("doorbell 0x21"), std::string::npos) << j.queues[0].notes[0];
  EXPECT_NE(j.queues[0].notes[1].find("ring size 16384"), std::string::npos) << j.queues[0].notes[1];
}

TEST(HqdOutput, JsonAndTextCarryTheJoin) {
  const HqdJoin j = join_hqds(mi308x_like(), mi308x_map());
  const auto js = hqd_json(j, {});
  EXPECT_EQ(js["gpus"][0]["cp"]["active"], 5);
  EXPECT_EQ(js["gpus"][0]["xccs"], 4);
  EXPECT_EQ(js["queues"][0]["slots"].size(), 4u);
  EXPECT_EQ(js["queues"][0]["slots"][3]["xcc"], 3);
  EXPECT_EQ(js["queues"][1]["slots"][0]["kind"], "sdma");
  EXPECT_EQ(js["kernel_queues"].size(), 4u);
  EXPECT_EQ(js["unmatched"].size(), 1u);
  EXPECT_EQ(js["stale_map"], true);
  EXPECT_EQ(js["decode_errors"], false);
  const auto only200 = hqd_json(j, {200});
  EXPECT_EQ(only200["queues"].size(), 1u);
  EXPECT_EQ(only200["processes"].size(), 1u);
  EXPECT_EQ(only200["unmatched"].size(), 1u);  // per GPU, never filtered

  gp::ProcessNames names;
  std::string text;
  for (const auto& l : hqd_text(j, {}, names)) text += l + "\n";
  EXPECT_NE(text.find("CP slots 5/16 active"), std::string::npos) << text;
  EXPECT_NE(text.find("xcc0/pipe1/q0 xcc1/pipe1/q0 xcc2/pipe1/q0 xcc3/pipe1/q0"), std::string::npos) << text;
  EXPECT_NE(text.find("sdma0/rlc0"), std::string::npos) << text;
  EXPECT_NE(text.find("holds no hardware slot"), std::string::npos) << text;
  EXPECT_NE(text.find("process 100"), std::string::npos) << text;
  EXPECT_NE(text.find("4 CP slots, 1 SDMA slots"), std::string::npos) << text;
  EXPECT_NE(text.find("kernel: HIQ"), std::string::npos) << text;
  EXPECT_NE(text.find("STALE? gpu 0xbeef xcc2/pipe0/q1"), std::string::npos) << text;
}

}  // namespace
