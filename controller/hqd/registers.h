// Register facts for decoding /sys/kernel/debug/kfd/hqds, per GC version.
//
// What the file holds (docs/kfd-internals.md §4; amdkfd/kfd_device_queue_manager.c
// seq_reg_dump): for every HQD, the register dump of the kfd2kgd hqd_dump /
// hqd_sdma_dump callback, printed as "    <addr>: <val> <val> ..." where <addr>
// is the BYTE address of the first register of a run ((dword offset) << 2 in
// DUMP_REG, including the IP/XCC base of SOC15_REG_OFFSET) and each further
// value is the next dword (a new line starts after 8 values or at a gap).
// Absolute addresses differ per ASIC, XCC and SDMA engine, so the decoder
// works on the order of the dump and checks distances between registers,
// never on absolute addresses.
//
// The offsets below are dword register offsets (mm*/reg* values, BASE_IDX 0)
// copied from the kernel's headers named in each table; see controller/hqd/registers.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace gp::hqd {

// The CP compute HQD registers kgd_gfx_v9_hqd_dump reads:
// CP_MQD_BASE_ADDR .. CP_HQD_PQ_WPTR_HI, every dword in between (56).
struct CpOffsets {
  std::uint32_t mqd_base_addr;        // first dumped register
  std::uint32_t mqd_base_addr_hi;
  std::uint32_t hqd_active;           // ACTIVE = bit 0
  std::uint32_t hqd_vmid;             // VMID = bits 3:0
  std::uint32_t pq_base;              // ring address >> 8, low 32 bits
  std::uint32_t pq_base_hi;           // ring address >> 8, high 32 bits
  std::uint32_t pq_doorbell_control;  // DOORBELL_OFFSET = bits 27:2, DOORBELL_EN = bit 30
  std::uint32_t pq_control;           // QUEUE_SIZE = bits 5:0 (ring = 4 << (QUEUE_SIZE + 1) bytes)
  std::uint32_t ctx_save_base_lo;
  std::uint32_t ctx_save_base_hi;
  std::uint32_t pq_wptr_hi;           // last dumped register
};

// The SDMA RLC queue registers the hqd_sdma_dump callbacks read, in four runs:
// RB_CNTL..DOORBELL, STATUS..CSA_ADDR_HI, IB_SUB_REMAIN..MINOR_PTR_UPDATE,
// MIDCMD_DATA0..MIDCMD_CNTL (offsets of RLC0 of engine 0; the callback adds
// the engine and RLC base, which keeps the distances).
struct SdmaOffsets {
  std::uint32_t rb_cntl;              // RB_ENABLE = bit 0
  std::uint32_t rb_base;              // ring address >> 8, low 32 bits
  std::uint32_t rb_base_hi;           // ring address >> 8, high 32 bits
  std::uint32_t doorbell;             // end of run 1
  std::uint32_t status;
  std::uint32_t doorbell_offset;      // OFFSET = bits 27:2
  std::uint32_t csa_addr_hi;          // end of run 2
  std::uint32_t ib_sub_remain;
  std::uint32_t minor_ptr_update;     // end of run 3
  std::uint32_t midcmd_data0;
  std::uint32_t midcmd_cntl;          // end of run 4
};

struct GcLayout {
  std::string_view gc;                         // "9.4.3"
  std::string_view asics;                      // "MI300 (Aqua Vanjaram)"
  std::span<const std::uint32_t> gfx_targets;  // topology gfx_target_version values
  std::string_view kfd2kgd;                    // the callbacks that print the dump
  std::string_view cp_source;                  // header the CP offsets come from
  CpOffsets cp;
  std::string_view sdma_source;
  SdmaOffsets sdma;
};

// Field masks (gc_9_0_sh_mask.h = gc_9_4_2_sh_mask.h; sdma0_4_0_sh_mask.h = sdma0_4_2_2_sh_mask.h).
inline constexpr std::uint32_t kCpHqdActiveMask = 0x00000001;
inline constexpr std::uint32_t kCpHqdVmidMask = 0x0000000f;
inline constexpr std::uint32_t kCpDoorbellOffsetMask = 0x0ffffffc;
inline constexpr unsigned kCpDoorbellOffsetShift = 2;
inline constexpr std::uint32_t kCpDoorbellEnMask = 0x40000000;
inline constexpr std::uint32_t kCpPqQueueSizeMask = 0x0000003f;
inline constexpr std::uint32_t kSdmaRbEnableMask = 0x00000001;
inline constexpr std::uint32_t kSdmaDoorbellOffsetMask = 0x0ffffffc;
inline constexpr unsigned kSdmaDoorbellOffsetShift = 2;

// Every known layout, oldest first.
std::span<const GcLayout> gc_layouts();
// The layout for a topology gfx_target_version (e.g. 90402), if known.
const GcLayout* layout_for_gfx_target(std::uint32_t gfx_target_version);

// Where a register sits in a dump block: its index among the dumped values and
// its distance in dwords from the block's first register.
struct DumpSlot {
  std::uint32_t index;
  std::uint32_t dword_delta;
};
std::uint32_t cp_dump_count(const CpOffsets& o);
std::uint32_t sdma_dump_count(const SdmaOffsets& o);
DumpSlot cp_slot(const CpOffsets& o, std::uint32_t reg);
// nullopt if reg lies in none of the four dumped runs.
std::optional<DumpSlot> sdma_slot(const SdmaOffsets& o, std::uint32_t reg);

}  // namespace gp::hqd
