// Which hardware queue slots each mapped queue occupies: a pure function of
// the decoded hqds dump and a snapshot of the queue map.
//
// An active HQD belongs to the queue whose ring it holds, the test KFD itself
// uses (kgd_gfx_v9_hqd_is_occupied: CP_HQD_ACTIVE and PQ_BASE/_HI equal to
// queue_address >> 8), restricted to the same GPU and queue class (CP slots
// hold compute queues, SDMA RLC slots SDMA queues); the doorbell offset breaks
// ties between processes whose rings share a virtual address. On GC 9.4.3 one
// queue has one MQD per XCC with the same ring, so it occupies one slot per
// XCC of its partition.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hqd/dump.h"
#include "tracing/queue_map.h"

namespace gp::hqd {

struct QueueSlots {
  QueueEntry entry;
  std::vector<Hqd> slots;            // active HQDs holding its ring, in dump order
  std::vector<std::string> notes;    // disagreements between map and registers
};

struct Unmatched {
  Hqd hqd;
  std::string reason;
};

struct ProcessTotals {
  std::uint32_t pid = 0;
  std::size_t queues = 0;
  std::size_t resident = 0;          // queues with at least one slot
  std::size_t cp_slots = 0;
  std::size_t sdma_slots = 0;
};

struct GpuTotals {
  std::uint32_t node = 0;
  std::uint32_t gpu_id = 0;
  std::string gc;                    // "" when not decoded
  std::string layout_note;
  bool stopped = false;
  std::size_t xccs = 0;              // distinct XCCs in the dump (1 when unnumbered)
  std::size_t cp_total = 0, cp_active = 0;
  std::size_t sdma_total = 0, sdma_active = 0;
  std::size_t hiq_total = 0, hiq_active = 0;
  std::vector<std::string> errors;
};

struct HqdJoin {
  std::vector<QueueSlots> queues;        // every map queue, sorted by (pid, ctx, qid)
  std::vector<ProcessTotals> processes;  // sorted by pid
  std::vector<GpuTotals> gpus;           // dump order
  std::vector<Hqd> kernel;               // active HIQs: KFD's own kernel queue per XCC
  std::vector<Unmatched> unmatched;      // active user slots no map queue explains: stale map
  bool decode_errors() const;
};

HqdJoin join_hqds(const std::vector<DecodedGpu>& gpus, const std::vector<QueueEntry>& map);

}  // namespace gp::hqd
