#include "hqd/join.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "bpf/events.h"

namespace gp::hqd {

namespace {

bool fits_class(const QueueEntry& e, HqdKind k) {
  switch (e.info.type) {
    case GP_QTYPE_COMPUTE: return k == HqdKind::Cp;
    case GP_QTYPE_SDMA:
    case GP_QTYPE_SDMA_XGMI:
    case GP_QTYPE_SDMA_BY_ENG_ID: return k == HqdKind::Sdma;
    case GP_QTYPE_UNKNOWN: return k != HqdKind::Hiq;
    default: return false;  // HIQ/DIQ are kernel queues, never in the user map
  }
}

std::string slot_name(const Hqd& h) {
  if (h.kind == HqdKind::Sdma) return fmt::format("sdma{}/rlc{}", h.pipe, h.queue);
  return fmt::format("xcc{}/pipe{}/queue{}", h.xcc < 0 ? 0 : h.xcc, h.pipe, h.queue);
}

}  // namespace

bool HqdJoin::decode_errors() const {
  return std::any_of(gpus.begin(), gpus.end(), [](const GpuTotals& g) { return !g.errors.empty(); });
}

HqdJoin join_hqds(const std::vector<DecodedGpu>& gpus, const std::vector<QueueEntry>& map) {
  HqdJoin out;
  std::vector<QueueEntry> sorted = map;
  std::sort(sorted.begin(), sorted.end(), [](const QueueEntry& a, const QueueEntry& b) {
    return std::tie(a.tgid, a.info.context_id, a.info.qid) < std::tie(b.tgid, b.info.context_id, b.info.qid);
  });
  for (const auto& e : sorted) out.queues.push_back({e, {}, {}});

  for (const auto& g : gpus) {
    GpuTotals t;
    t.node = g.node;
    t.gpu_id = g.gpu_id;
    t.gc = g.layout ? std::string(g.layout->gc) : "";
    t.layout_note = g.layout_note;
    t.stopped = g.stopped;
    t.errors = g.errors;
    std::set<int> xccs;
    for (const auto& h : g.hqds) {
      if (h.kind != HqdKind::Sdma) xccs.insert(h.xcc);  // SDMA engines are not per XCC
      auto count = [&](std::size_t& total, std::size_t& active) {
        ++total;
        if (h.active) ++active;
      };
      if (h.kind == HqdKind::Hiq) count(t.hiq_total, t.hiq_active);
      if (h.kind == HqdKind::Cp) count(t.cp_total, t.cp_active);
      if (h.kind == HqdKind::Sdma) count(t.sdma_total, t.sdma_active);
      if (!h.active) continue;
      if (h.kind == HqdKind::Hiq) {
        out.kernel.push_back(h);
        continue;
      }
      std::vector<QueueSlots*> cands;
      for (auto& q : out.queues)
        if (q.entry.info.gpu_id == h.gpu_id && q.entry.info.ring_addr == h.ring && fits_class(q.entry, h.kind))
          cands.push_back(&q);
      if (cands.size() > 1 && h.doorbell_enabled) {
        std::erase_if(cands, [&](QueueSlots* q) { return q->entry.info.doorbell_off != h.doorbell; });
      }
      if (cands.empty()) {
        out.unmatched.push_back({h, fmt::format("no queue in the map has ring {:#x} on gpu {:#x}: the map is "
                                                "stale or missed this queue",
                                                h.ring, h.gpu_id)});
        continue;
      }
      if (cands.size() > 1) {
        out.unmatched.push_back({h, fmt::format("{} queues in the map share ring {:#x} and doorbell {:#x}",
                                                cands.size(), h.ring, h.doorbell)});
        continue;
      }
      QueueSlots& q = *cands.front();
      q.slots.push_back(h);
      if (h.doorbell_enabled && q.entry.info.doorbell_off != h.doorbell)
        q.notes.push_back(fmt::format("{}: doorbell {:#x} in the HQD, {:#x} in the map", slot_name(h),
                                      h.doorbell, q.entry.info.doorbell_off));
      if (h.kind == HqdKind::Cp && q.entry.info.ring_size != 0 && h.ring_bytes != q.entry.info.ring_size)
        q.notes.push_back(fmt::format("{}: ring size {} in the HQD, {} in the map", slot_name(h), h.ring_bytes,
                                      q.entry.info.ring_size));
    }
    t.xccs = xccs.size();
    out.gpus.push_back(std::move(t));
  }

  std::map<std::uint32_t, ProcessTotals> procs;
  for (const auto& q : out.queues) {
    auto& p = procs[q.entry.tgid];
    p.pid = q.entry.tgid;
    ++p.queues;
    if (!q.slots.empty()) ++p.resident;
    for (const auto& h : q.slots) ++(h.kind == HqdKind::Sdma ? p.sdma_slots : p.cp_slots);
  }
  for (auto& [pid, p] : procs) out.processes.push_back(p);
  return out;
}

}  // namespace gp::hqd
