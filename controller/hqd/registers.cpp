#include "hqd/registers.h"

// The register tables. Every number here is copied from a kernel header or
// source file, named next to it; paths are under drivers/gpu/drm/amd/.
//
// Read in the oldest Debian kernel source of the VM tier (docs/kernels.md)
// and, for 9.4.3 (added later), in torvalds/linux master (stored copy): include/asic_reg/gc/gc_9_4_3_offset.h,
// include/asic_reg/sdma/sdma_4_4_2_offset.h, amdgpu/amdgpu_amdkfd_gc_9_4_3.c.
//
// Who prints what (amdgpu/amdgpu_amdkfd_*.c, the kfd2kgd hqd_dump callbacks):
// - every GC 9.x uses kgd_gfx_v9_hqd_dump (amdgpu_amdkfd_gfx_v9.c), which loops
//   SOC15_REG_OFFSET(GC, GET_INST(GC, inst), mmCP_MQD_BASE_ADDR ..
//   mmCP_HQD_PQ_WPTR_HI) with gc_9_0_offset.h names: 56 registers
//   (HQD_N_REGS 56). The per-version GC headers agree with gc_9_0 on every
//   offset in that range (gc_9_4_2 and gc_9_4_3 checked register by register;
//   gc_9_4_1_offset.h has no CP_HQD registers at all, GC 9.4.1 uses gc_9_0's).
// - SDMA: kgd_hqd_sdma_dump (gfx_v9, sdma0_4_0 names, 19+6+7+10 = 42),
//   kgd_arcturus_hqd_sdma_dump (GC 9.4.1 and 9.4.2, sdma0_4_2_2 names, 42),
//   kgd_gfx_v9_4_3_hqd_sdma_dump (GC 9.4.3/9.4.4, sdma_4_4_2 names,
//   19+6+7+12 = 44).
// - gfx_target_version per GC version: amdkfd/kfd_device.c kgd2kfd_probe.

#include <algorithm>
#include <array>

namespace gp::hqd {

namespace {

// include/asic_reg/gc/gc_9_0_offset.h (mmCP_*); identical in gc_9_4_2_offset.h
// and gc_9_4_3_offset.h (regCP_*).
constexpr CpOffsets kCpGc9{
    .mqd_base_addr = 0x1245,
    .mqd_base_addr_hi = 0x1246,
    .hqd_active = 0x1247,
    .hqd_vmid = 0x1248,
    .pq_base = 0x124d,
    .pq_base_hi = 0x124e,
    .pq_doorbell_control = 0x1254,
    .pq_control = 0x1256,
    .ctx_save_base_lo = 0x1270,
    .ctx_save_base_hi = 0x1271,
    .pq_wptr_hi = 0x127c,
};

// include/asic_reg/sdma0/sdma0_4_0_offset.h (mmSDMA0_RLC0_*).
constexpr SdmaOffsets kSdma40{
    .rb_cntl = 0x0140,
    .rb_base = 0x0141,
    .rb_base_hi = 0x0142,
    .doorbell = 0x0152,
    .status = 0x0168,
    .doorbell_offset = 0x016b,
    .csa_addr_hi = 0x016d,
    .ib_sub_remain = 0x016f,
    .minor_ptr_update = 0x0175,
    .midcmd_data0 = 0x0180,
    .midcmd_cntl = 0x0189,
};

// include/asic_reg/sdma0/sdma0_4_2_2_offset.h (mmSDMA0_RLC0_*).
constexpr SdmaOffsets kSdma422{
    .rb_cntl = 0x0130,
    .rb_base = 0x0131,
    .rb_base_hi = 0x0132,
    .doorbell = 0x0142,
    .status = 0x0158,
    .doorbell_offset = 0x015b,
    .csa_addr_hi = 0x015d,
    .ib_sub_remain = 0x015f,
    .minor_ptr_update = 0x0165,
    .midcmd_data0 = 0x0170,
    .midcmd_cntl = 0x0179,
};

// include/asic_reg/sdma/sdma_4_4_2_offset.h (regSDMA_RLC0_*); MIDCMD_CNTL
// follows from HQD_N_REGS (19+6+7+12) in kgd_gfx_v9_4_3_hqd_sdma_dump.
constexpr SdmaOffsets kSdma442{
    .rb_cntl = 0x0130,
    .rb_base = 0x0131,
    .rb_base_hi = 0x0132,
    .doorbell = 0x0142,
    .status = 0x0158,
    .doorbell_offset = 0x015b,
    .csa_addr_hi = 0x015d,
    .ib_sub_remain = 0x015f,
    .minor_ptr_update = 0x0165,
    .midcmd_data0 = 0x0170,
    .midcmd_cntl = 0x017b,
};

// kfd_device.c: 9.0.1 -> 90000, 9.1.0/9.2.2 -> 90002, 9.2.1 -> 90004,
// 9.4.0 -> 90006, 9.3.0 -> 90012 (all gfx_v9_kfd2kgd); 9.4.1 -> 90008;
// 9.4.2 -> 90010; 9.4.3 -> 90400/90401/90402 and 9.4.4 -> 90402 (gc_9_4_3_kfd2kgd).
constexpr std::array<std::uint32_t, 5> kTargetsGc90{90000, 90002, 90004, 90006, 90012};
constexpr std::array<std::uint32_t, 1> kTargetsGc941{90008};
constexpr std::array<std::uint32_t, 1> kTargetsGc942{90010};
constexpr std::array<std::uint32_t, 3> kTargetsGc943{90400, 90401, 90402};

const std::array<GcLayout, 4> kLayouts{{
    {"9.0", "Vega10/12/20, Raven, Renoir", kTargetsGc90, "gfx_v9_kfd2kgd",
     "gc/gc_9_0_offset.h", kCpGc9, "sdma0/sdma0_4_0_offset.h", kSdma40},
    {"9.4.1", "MI100 (Arcturus)", kTargetsGc941, "arcturus_kfd2kgd",
     "gc/gc_9_0_offset.h (gc_9_4_1_offset.h has no CP_HQD registers)", kCpGc9,
     "sdma0/sdma0_4_2_2_offset.h", kSdma422},
    {"9.4.2", "MI200 (Aldebaran)", kTargetsGc942, "aldebaran_kfd2kgd",
     "gc/gc_9_4_2_offset.h (= gc_9_0 in this range)", kCpGc9,
     "sdma0/sdma0_4_2_2_offset.h (kgd_arcturus_hqd_sdma_dump)", kSdma422},
    {"9.4.3", "MI300 (Aqua Vanjaram; also GC 9.4.4)", kTargetsGc943, "gc_9_4_3_kfd2kgd",
     "gc/gc_9_4_3_offset.h (= gc_9_0 in this range)", kCpGc9, "sdma/sdma_4_4_2_offset.h",
     kSdma442},
}};

struct Run {
  std::uint32_t first, last;
};

std::array<Run, 4> sdma_runs(const SdmaOffsets& o) {
  return {{{o.rb_cntl, o.doorbell},
           {o.status, o.csa_addr_hi},
           {o.ib_sub_remain, o.minor_ptr_update},
           {o.midcmd_data0, o.midcmd_cntl}}};
}

}  // namespace

std::span<const GcLayout> gc_layouts() { return kLayouts; }

const GcLayout* layout_for_gfx_target(std::uint32_t gfx_target_version) {
  for (const auto& l : kLayouts)
    if (std::find(l.gfx_targets.begin(), l.gfx_targets.end(), gfx_target_version) != l.gfx_targets.end())
      return &l;
  return nullptr;
}

std::uint32_t cp_dump_count(const CpOffsets& o) { return o.pq_wptr_hi - o.mqd_base_addr + 1; }

std::uint32_t sdma_dump_count(const SdmaOffsets& o) {
  std::uint32_t n = 0;
  for (const auto& r : sdma_runs(o)) n += r.last - r.first + 1;
  return n;
}

DumpSlot cp_slot(const CpOffsets& o, std::uint32_t reg) {
  return {reg - o.mqd_base_addr, reg - o.mqd_base_addr};
}

std::optional<DumpSlot> sdma_slot(const SdmaOffsets& o, std::uint32_t reg) {
  std::uint32_t index = 0;
  for (const auto& r : sdma_runs(o)) {
    if (reg >= r.first && reg <= r.last) return DumpSlot{index + (reg - r.first), reg - o.rb_cntl};
    index += r.last - r.first + 1;
  }
  return std::nullopt;
}

}  // namespace gp::hqd
