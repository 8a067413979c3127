// The hqds register tables and parser. All dump text here is SYNTHETIC (see
// hqd_synthetic.h): built from the documented format, not captured on a GPU.
#include <gtest/gtest.h>

#include "hqd/dump.h"
#include "hqd/registers.h"
#include "hqd_synthetic.h"

namespace {

using namespace gp::hqd;
using namespace gp::test;

const GcLayout& gc(std::string_view name) {
  for (const auto& l : gc_layouts())
    if (l.gc == name) return l;
  throw std::runtime_error("no layout");
}

TEST(HqdRegisters, DumpSizesAreTheKernelsHqdNRegs) {
  // HQD_N_REGS in amdgpu_amdkfd_gfx_v9.c (56), kgd_hqd_sdma_dump and
  // kgd_arcturus_hqd_sdma_dump (19+6+7+10), kgd_gfx_v9_4_3_hqd_sdma_dump (19+6+7+12).
  for (const auto& l : gc_layouts()) EXPECT_EQ(cp_dump_count(l.cp), 56u) << l.gc;
  EXPECT_EQ(sdma_dump_count(gc("9.0").sdma), 42u);
  EXPECT_EQ(sdma_dump_count(gc("9.4.1").sdma), 42u);
  EXPECT_EQ(sdma_dump_count(gc("9.4.2").sdma), 42u);
  EXPECT_EQ(sdma_dump_count(gc("9.4.3").sdma), 44u);
}

TEST(HqdRegisters, HeaderValues) {
  // gc_9_0_offset.h / gc_9_4_2_offset.h / gc_9_4_3_offset.h agree on these.
  for (const auto& l : gc_layouts()) {
    EXPECT_EQ(l.cp.mqd_base_addr, 0x1245u);
    EXPECT_EQ(l.cp.hqd_active, 0x1247u);
    EXPECT_EQ(l.cp.pq_base, 0x124du);
    EXPECT_EQ(l.cp.pq_base_hi, 0x124eu);
    EXPECT_EQ(l.cp.pq_doorbell_control, 0x1254u);
    EXPECT_EQ(l.cp.pq_wptr_hi, 0x127cu);
    // RB_BASE/_HI follow RB_CNTL, DOORBELL_OFFSET is STATUS + 3 in every SDMA header.
    EXPECT_EQ(l.sdma.rb_base, l.sdma.rb_cntl + 1);
    EXPECT_EQ(l.sdma.rb_base_hi, l.sdma.rb_cntl + 2);
    EXPECT_EQ(l.sdma.doorbell_offset, l.sdma.status + 3);
  }
  EXPECT_EQ(gc("9.0").sdma.rb_cntl, 0x140u);    // sdma0_4_0_offset.h
  EXPECT_EQ(gc("9.4.2").sdma.rb_cntl, 0x130u);  // sdma0_4_2_2_offset.h
  EXPECT_EQ(gc("9.4.3").sdma.midcmd_cntl, 0x17bu);
  // Dump positions: PQ_BASE is the 9th CP register; DOORBELL_OFFSET the 23rd SDMA one.
  EXPECT_EQ(cp_slot(gc("9.4.3").cp, 0x124d).index, 8u);
  auto s = sdma_slot(gc("9.4.3").sdma, gc("9.4.3").sdma.doorbell_offset);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->index, 22u);
  EXPECT_EQ(s->dword_delta, 0x2bu);
  EXPECT_FALSE(sdma_slot(gc("9.4.3").sdma, 0x150 + 0x1));  // in the gap after DOORBELL
}

TEST(HqdRegisters, GfxTargetVersions) {
  EXPECT_EQ(layout_for_gfx_target(90000)->gc, "9.0");
  EXPECT_EQ(layout_for_gfx_target(90006)->gc, "9.0");  // Vega20
  EXPECT_EQ(layout_for_gfx_target(90008)->gc, "9.4.1");
  EXPECT_EQ(layout_for_gfx_target(90010)->gc, "9.4.2");
  EXPECT_EQ(layout_for_gfx_target(90402)->gc, "9.4.3");
  EXPECT_EQ(layout_for_gfx_target(110000), nullptr);
  EXPECT_EQ(layout_for_gfx_target(90500), nullptr);  // GC 9.5: not verified, not decoded
}

TEST(HqdSynthetic, SeqRegDumpPrintsEightValuesALineAndBreaksAtGaps) {
  const auto& l = gc("9.4.3");
  const std::string cp = seq_reg_dump(cp_regs(l.cp, cp_base(0), {}));
  EXPECT_EQ(std::count(cp.begin(), cp.end(), '\n'), 7);  // 56 / 8
  EXPECT_EQ(cp.substr(0, 13), fmt::format("    {:08x}:", cp_base(0) << 2));
  const std::string sd = seq_reg_dump(sdma_regs(l.sdma, sdma_base(l.sdma, 0, 0), {}));
  // 19 -> 3 lines, 6 -> 1, 7 -> 1, 12 -> 2
  EXPECT_EQ(std::count(sd.begin(), sd.end(), '\n'), 7);
}

// A 6.1-format dump (no "Inst"), GC 9.0: HIQ, two CP slots, one SDMA RLC.
std::string gc90_dump() {
  const auto& l = gc("9.0");
  std::string t = node_header(1, 0x1002);
  t += hiq_header(-1) + seq_reg_dump(cp_regs(l.cp, cp_base(-1) + 0x400, {.active = true, .ring = 0xf400001000}));
  t += cp_header(-1, 0, 0) + seq_reg_dump(cp_regs(l.cp, cp_base(-1), {.active = true, .ring = 0x7f1234560000,
                                                                       .doorbell = 0x1002, .vmid = 8,
                                                                       .mqd = 0xf400a00000}));
  t += cp_header(-1, 0, 1) + seq_reg_dump(cp_regs(l.cp, cp_base(-1), {}));
  t += sdma_header(1, 0) +
       seq_reg_dump(sdma_regs(l.sdma, sdma_base(l.sdma, 1, 0), {.enabled = true, .ring = 0x7f00aa000000,
                                                                .doorbell = 0x1f0}));
  return t;
}

TEST(HqdParse, Linux61FormatGc90) {
  const ParsedHqds p = parse_hqds(gc90_dump());
  ASSERT_TRUE(p.ok()) << p.errors.front();
  ASSERT_EQ(p.nodes.size(), 1u);
  EXPECT_EQ(p.nodes[0].node, 1u);
  EXPECT_EQ(p.nodes[0].gpu_id, 0x1002u);
  ASSERT_EQ(p.nodes[0].blocks.size(), 4u);
  EXPECT_EQ(p.nodes[0].blocks[0].kind, HqdKind::Hiq);
  EXPECT_EQ(p.nodes[0].blocks[0].mec, 2u);
  EXPECT_EQ(p.nodes[0].blocks[0].xcc, -1);
  EXPECT_EQ(p.nodes[0].blocks[1].kind, HqdKind::Cp);
  EXPECT_EQ(p.nodes[0].blocks[2].queue, 1u);
  EXPECT_EQ(p.nodes[0].blocks[3].kind, HqdKind::Sdma);
  EXPECT_EQ(p.nodes[0].blocks[3].pipe, 1u);
  EXPECT_EQ(p.nodes[0].blocks[1].regs.size(), 56u);
  EXPECT_EQ(p.nodes[0].blocks[3].regs.size(), 42u);
  EXPECT_EQ(p.nodes[0].blocks[1].regs[0].addr, cp_base(-1) << 2);

  const auto d = decode_hqds(p, {{0x1002, 90000}});
  ASSERT_EQ(d.size(), 1u);
  ASSERT_TRUE(d[0].errors.empty()) << d[0].errors.front();
  EXPECT_EQ(d[0].layout->gc, "9.0");
  ASSERT_EQ(d[0].hqds.size(), 4u);
  const Hqd& cp = d[0].hqds[1];
  EXPECT_TRUE(cp.active);
  EXPECT_EQ(cp.ring, 0x7f1234560000u);
  EXPECT_EQ(cp.doorbell, 0x1002u);
  EXPECT_TRUE(cp.doorbell_enabled);
  EXPECT_EQ(cp.vmid, 8u);
  EXPECT_EQ(cp.mqd, 0xf400a00000u);
  EXPECT_EQ(cp.ring_bytes, 16384u);
  EXPECT_FALSE(d[0].hqds[2].active);
  const Hqd& sdma = d[0].hqds[3];
  EXPECT_TRUE(sdma.active);
  EXPECT_EQ(sdma.ring, 0x7f00aa000000u);
  EXPECT_EQ(sdma.doorbell, 0x1f0u);
  EXPECT_EQ(sdma.pipe, 1u);
}

TEST(HqdParse, NewFormatWithInstancesGc943) {
  const auto& l = gc("9.4.3");
  std::string t = node_header(2, 0xbeef);
  for (int x = 0; x < 4; ++x) {
    t += hiq_header(x) + seq_reg_dump(cp_regs(l.cp, cp_base(x) + 0x400, {.active = true, .ring = 0xf500000000}));
    t += cp_header(x, 1, 2) + seq_reg_dump(cp_regs(l.cp, cp_base(x), {.active = true, .ring = 0x7fff00000000}));
  }
  t += sdma_header(4, 1) + seq_reg_dump(sdma_regs(l.sdma, sdma_base(l.sdma, 4, 1), {}));
  const ParsedHqds p = parse_hqds(t);
  ASSERT_TRUE(p.ok()) << p.errors.front();
  ASSERT_EQ(p.nodes[0].blocks.size(), 9u);
  EXPECT_EQ(p.nodes[0].blocks[0].xcc, 0);
  EXPECT_EQ(p.nodes[0].blocks[7].xcc, 3);
  EXPECT_EQ(p.nodes[0].blocks[7].pipe, 1u);
  EXPECT_EQ(p.nodes[0].blocks[8].regs.size(), 44u);
  const auto d = decode_hqds(p, {{0xbeef, 90402}});
  ASSERT_TRUE(d[0].errors.empty()) << d[0].errors.front();
  EXPECT_EQ(d[0].hqds[7].ring, 0x7fff00000000u);
  EXPECT_EQ(d[0].hqds[7].xcc, 3);
}

TEST(HqdParse, StoppedDeviceAndEmptyFile) {
  const ParsedHqds p = parse_hqds(node_header(1, 0x10) + " Device is stopped\n" + node_header(2, 0x20));
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p.nodes.size(), 2u);
  EXPECT_TRUE(p.nodes[0].stopped);
  EXPECT_FALSE(p.nodes[1].stopped);
  EXPECT_TRUE(p.nodes[0].blocks.empty());
  const ParsedHqds e = parse_hqds("");
  EXPECT_TRUE(e.ok());
  EXPECT_TRUE(e.nodes.empty());
}

TEST(HqdParse, GarbageIsReportedWithItsLine) {
  const auto& l = gc("9.4.2");
  std::string good = node_header(1, 0x10) + cp_header(-1, 0, 0) + seq_reg_dump(cp_regs(l.cp, cp_base(0), {}));
  auto p = parse_hqds("hello world\n" + good);
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_NE(p.errors[0].find("line 1"), std::string::npos) << p.errors[0];

  p = parse_hqds(node_header(1, 0x10) + "    00001000: 00000001\n");
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_NE(p.errors[0].find("before any"), std::string::npos);

  p = parse_hqds(good + "    0000a000: 00000001 zzzz\n");
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_NE(p.errors[0].find("line 10"), std::string::npos) << p.errors[0];

  p = parse_hqds(good + "  MES Pipe 0, Queue 0\n");
  EXPECT_EQ(p.errors.size(), 1u);
  p = parse_hqds("Node 1, gpu_id zz:\n");
  EXPECT_EQ(p.errors.size(), 1u);
}

TEST(HqdParse, TruncatedBlockIsNotDecoded) {
  const auto& l = gc("9.4.2");
  std::string t = node_header(1, 0x10) + cp_header(-1, 0, 0) +
                  seq_reg_dump(cp_regs(l.cp, cp_base(0), {.active = true, .ring = 0x1000}));
  t += cp_header(-1, 0, 1) + seq_reg_dump(cp_regs(l.cp, cp_base(0), {.active = true, .ring = 0x2000}));
  t.resize(t.size() - 120);  // cut inside the last block's registers
  t.resize(t.rfind('\n') + 1);
  const ParsedHqds p = parse_hqds(t);
  ASSERT_TRUE(p.ok());
  const auto d = decode_hqds(p, {{0x10, 90010}});
  ASSERT_EQ(d[0].hqds.size(), 1u);
  ASSERT_EQ(d[0].errors.size(), 1u);
  EXPECT_NE(d[0].errors[0].find("truncated"), std::string::npos) << d[0].errors[0];
}

TEST(HqdDecode, WrongLayoutIsRefusedAndUnknownVersionIsInferred) {
  const auto& l943 = gc("9.4.3");
  const std::string t = node_header(1, 0x10) + sdma_header(0, 0) +
                        seq_reg_dump(sdma_regs(l943.sdma, sdma_base(l943.sdma, 0, 0), {.enabled = true, .ring = 0x5000}));
  const ParsedHqds p = parse_hqds(t);
  ASSERT_TRUE(p.ok());
  auto d = decode_hqds(p, {{0x10, 90010}});  // topology says 9.4.2: 42 registers expected
  EXPECT_EQ(d[0].hqds.size(), 0u);
  EXPECT_EQ(d[0].errors.size(), 1u);
  d = decode_hqds(p, {});  // no topology: the shape picks 9.4.3
  ASSERT_TRUE(d[0].errors.empty());
  EXPECT_EQ(d[0].layout->gc, "9.4.3");
  EXPECT_NE(d[0].layout_note.find("unknown"), std::string::npos);
  EXPECT_EQ(d[0].hqds[0].ring, 0x5000u);
  d = decode_hqds(p, {{0x10, 110000}});  // GC 11: not decoded at all
  EXPECT_EQ(d[0].layout, nullptr);
  EXPECT_EQ(d[0].hqds.size(), 0u);
  ASSERT_EQ(d[0].errors.size(), 1u);
  EXPECT_NE(d[0].errors[0].find("110000"), std::string::npos);
}

TEST(HqdDecode, RegistersAtTheWrongDistanceAreRefused) {
  const auto& l = gc("9.4.2");
  auto regs = cp_regs(l.cp, cp_base(0), {.active = true, .ring = 0x1000});
  for (std::size_t i = 5; i < regs.size(); ++i) regs[i].first += 0x40;  // a gap after the 5th register
  const ParsedHqds p = parse_hqds(node_header(1, 0x10) + cp_header(-1, 0, 0) + seq_reg_dump(regs));
  ASSERT_TRUE(p.ok());
  const auto d = decode_hqds(p, {{0x10, 90010}});
  EXPECT_TRUE(d[0].hqds.empty());
  ASSERT_EQ(d[0].errors.size(), 1u);
  EXPECT_NE(d[0].errors[0].find("distance"), std::string::npos) << d[0].errors[0];
}

}  // namespace
