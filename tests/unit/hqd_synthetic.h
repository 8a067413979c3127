// SYNTHETIC /sys/kernel/debug/kfd/hqds text for the parser and join tests.
//
// No machine here has an AMD GPU, so no real dump exists to copy. This builds
// dumps from the documented format (docs/kfd-internals.md §4) the way the kernel
// prints them: dqm_debugfs_hqds headers (6.1 wording without "Inst", 6.5+
// wording with it) and seq_reg_dump's "    %08x: %08x" + " %08x" runs (8
// values a line, a new line at every address gap), register addresses in
// BYTES (DUMP_REG stores addr << 2). Register positions come from the tables
// under test; the absolute bases below are made up, which the decoder must
// not care about. Every other register holds a filler pattern.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "hqd/registers.h"

namespace gp::test {

using Regs = std::vector<std::pair<std::uint32_t, std::uint32_t>>;  // (byte addr, value)

// amdkfd/kfd_device_queue_manager.c seq_reg_dump, line for line.
inline std::string seq_reg_dump(const Regs& dump) {
  std::string out;
  unsigned count = 0;
  for (std::size_t i = 0; i < dump.size(); ++i) {
    if (count == 0 || dump[i - 1].first + 4 != dump[i].first) {
      out += fmt::format("{}    {:08x}: {:08x}", i ? "\n" : "", dump[i].first, dump[i].second);
      count = 7;
    } else {
      out += fmt::format(" {:08x}", dump[i].second);
      --count;
    }
  }
  return out + "\n";
}

struct CpState {
  bool active = false;
  std::uint64_t ring = 0;
  std::uint32_t doorbell = 0;
  bool doorbell_en = true;
  std::uint32_t vmid = 0;
  std::uint64_t mqd = 0;
  std::uint32_t queue_size = 11;  // CP_HQD_PQ_CONTROL.QUEUE_SIZE: 4 << 12 = 16 KiB ring
};

// One CP HQD as kgd_gfx_v9_hqd_dump reads it; base_dw = the dword address of
// CP_MQD_BASE_ADDR for this XCC (SOC15 base + 0x1245).
inline Regs cp_regs(const hqd::CpOffsets& o, std::uint32_t base_dw, const CpState& s) {
  std::map<std::uint32_t, std::uint32_t> v{
      {o.mqd_base_addr, static_cast<std::uint32_t>(s.mqd)},
      {o.mqd_base_addr_hi, static_cast<std::uint32_t>(s.mqd >> 32)},
      {o.hqd_active, s.active ? 1u : 0u},
      {o.hqd_vmid, s.vmid},
      {o.pq_base, static_cast<std::uint32_t>(s.ring >> 8)},
      {o.pq_base_hi, static_cast<std::uint32_t>(s.ring >> 40)},
      {o.pq_doorbell_control, (s.doorbell << 2) | (s.doorbell_en ? 0x40000000u : 0u)},
      {o.pq_control, 0x00308500u | s.queue_size},
  };
  Regs r;
  for (std::uint32_t reg = o.mqd_base_addr; reg <= o.pq_wptr_hi; ++reg) {
    auto it = v.find(reg);
    r.push_back({(base_dw + (reg - o.mqd_base_addr)) << 2, it != v.end() ? it->second : 0xc0de0000u + reg});
  }
  return r;
}

struct SdmaState {
  bool enabled = false;
  std::uint64_t ring = 0;
  std::uint32_t doorbell = 0;
};

// One SDMA RLC queue as the hqd_sdma_dump callbacks read it (four runs);
// base_dw = dword address of this engine/RLC's RB_CNTL.
inline Regs sdma_regs(const hqd::SdmaOffsets& o, std::uint32_t base_dw, const SdmaState& s) {
  const std::pair<std::uint32_t, std::uint32_t> runs[] = {{o.rb_cntl, o.doorbell},
                                                           {o.status, o.csa_addr_hi},
                                                           {o.ib_sub_remain, o.minor_ptr_update},
                                                           {o.midcmd_data0, o.midcmd_cntl}};
  std::map<std::uint32_t, std::uint32_t> v{
      {o.rb_cntl, 0x00401014u | (s.enabled ? 1u : 0u)},
      {o.rb_base, static_cast<std::uint32_t>(s.ring >> 8)},
      {o.rb_base_hi, static_cast<std::uint32_t>(s.ring >> 40)},
      {o.doorbell_offset, s.doorbell << 2},
  };
  Regs r;
  for (auto [first, last] : runs)
    for (std::uint32_t reg = first; reg <= last; ++reg) {
      auto it = v.find(reg);
      r.push_back({(base_dw + (reg - o.rb_cntl)) << 2, it != v.end() ? it->second : 0x5d0a0000u + reg});
    }
  return r;
}

// Headers exactly as dqm_debugfs_hqds prints them.
inline std::string node_header(unsigned node, std::uint32_t gpu_id) {
  return fmt::format("Node {}, gpu_id {:x}:\n", node, gpu_id);
}
inline std::string hiq_header(int inst) {  // inst < 0: 6.1 wording
  if (inst < 0) return "  HIQ on MEC 2 Pipe 0 Queue 0\n";
  return fmt::format("   Inst {}, HIQ on MEC 2 Pipe 0 Queue 0\n", inst);
}
inline std::string cp_header(int inst, unsigned pipe, unsigned queue) {
  if (inst < 0) return fmt::format("  CP Pipe {}, Queue {}\n", pipe, queue);
  return fmt::format(" Inst {},  CP Pipe {}, Queue {}\n", inst, pipe, queue);
}
inline std::string sdma_header(unsigned engine, unsigned rlc) {
  return fmt::format("  SDMA Engine {}, RLC {}\n", engine, rlc);
}

// Made-up SOC15 bases: GC at dword 0x2000 plus 0x10000 per XCC, SDMA engines
// 0x1000 dwords apart, RLC queues 0x80 dwords apart.
inline std::uint32_t cp_base(int xcc) { return 0x2000 + 0x10000u * static_cast<std::uint32_t>(xcc < 0 ? 0 : xcc) + 0x1245; }
inline std::uint32_t sdma_base(const hqd::SdmaOffsets& o, unsigned engine, unsigned rlc) {
  return 0x1260 * 4 + 0x1000 * engine + 0x80 * rlc + o.rb_cntl;
}

}  // namespace gp::test
