// /sys/kernel/debug/kfd/hqds as data: a pure text -> structs parser and the
// decoder of each register block (controller/hqd/registers.h says what the numbers are).
//
// The text (amdkfd/kfd_debugfs.c kfd_debugfs_hqds_by_device, and
// dqm_debugfs_hqds in kfd_device_queue_manager.c), per GPU node:
//   Node <n>, gpu_id <hex>:
//    Device is stopped                                (scheduler not running)
//      HIQ on MEC <m> Pipe <p> Queue <q>              (before multi-XCC support)
//      Inst <x>, HIQ on MEC <m> Pipe <p> Queue <q>    (with it: one block per XCC)
//     CP Pipe <p>, Queue <q>                          (before multi-XCC support)
//    Inst <x>,  CP Pipe <p>, Queue <q>                (with it)
//     SDMA Engine <e>, RLC <r>
//       <addr>: <val> <val> ...                       (registers of the block above)
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hqd/registers.h"

namespace gp::hqd {

enum class HqdKind : std::uint8_t { Hiq, Cp, Sdma };
std::string_view to_string(HqdKind k);  // "hiq", "cp", "sdma"

struct RawReg {
  std::uint32_t addr;  // byte address as printed
  std::uint32_t value;
};

struct RawBlock {
  HqdKind kind = HqdKind::Cp;
  int xcc = -1;                 // "Inst <x>"; -1 when the kernel prints none (one XCC)
  std::uint32_t mec = 0;        // HIQ only (1-based, as printed)
  std::uint32_t pipe = 0;       // CP/HIQ pipe, SDMA engine
  std::uint32_t queue = 0;      // CP/HIQ queue, SDMA RLC
  std::size_t line = 0;         // 1-based line of the header
  std::vector<RawReg> regs;
};

struct RawNode {
  std::uint32_t node = 0;
  std::uint32_t gpu_id = 0;
  bool stopped = false;         // " Device is stopped"
  std::vector<RawBlock> blocks;
};

struct ParsedHqds {
  std::vector<RawNode> nodes;
  std::vector<std::string> errors;  // "line N: ..." for every line that is not of the format
  bool ok() const { return errors.empty(); }
};

ParsedHqds parse_hqds(std::string_view text);

// One decoded hardware queue slot.
struct Hqd {
  HqdKind kind = HqdKind::Cp;
  std::uint32_t node = 0;
  std::uint32_t gpu_id = 0;
  int xcc = -1;
  std::uint32_t mec = 0;
  std::uint32_t pipe = 0;       // SDMA: engine
  std::uint32_t queue = 0;      // SDMA: RLC
  bool active = false;          // CP_HQD_ACTIVE.ACTIVE / SDMA RB_CNTL.RB_ENABLE
  std::uint64_t ring = 0;       // (BASE_HI:BASE) << 8
  std::uint32_t doorbell = 0;   // dword offset, as queue_properties.doorbell_off
  bool doorbell_enabled = false;// CP only (SDMA: always reported enabled)
  std::uint32_t vmid = 0;       // CP only
  std::uint64_t mqd = 0;        // CP only: CP_MQD_BASE_ADDR_HI:LO
  std::uint64_t ring_bytes = 0; // CP only: from CP_HQD_PQ_CONTROL.QUEUE_SIZE
  std::uint64_t ctx_save = 0;   // CP only
};

struct DecodedGpu {
  std::uint32_t node = 0;
  std::uint32_t gpu_id = 0;
  bool stopped = false;
  const GcLayout* layout = nullptr;  // nullptr: not decoded (see errors)
  std::string layout_note;           // how the layout was chosen
  std::vector<Hqd> hqds;
  std::vector<std::string> errors;   // blocks that do not fit the layout
};

// gfx_target_versions: gpu_id -> topology gfx_target_version (may lack a GPU,
// then the layout is inferred from the dump's shape and that is said).
std::vector<DecodedGpu> decode_hqds(const ParsedHqds& parsed,
                                    const std::map<std::uint32_t, std::uint32_t>& gfx_target_versions);

// One block against one layout; returns the error text, empty when it fits.
std::string decode_block(const RawBlock& b, const GcLayout& layout, Hqd& out);

}  // namespace gp::hqd
