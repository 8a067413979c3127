#include "cli/render/hqd.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/proc.h"
#include "hqd/source.h"
#include "trace/event.h"

namespace gp::hqd {

namespace {

bool selected(const std::vector<std::uint32_t>& pids, std::uint32_t pid) {
  return pids.empty() || std::find(pids.begin(), pids.end(), pid) != pids.end();
}

std::string slot_text(const Hqd& h) {
  if (h.kind == HqdKind::Sdma) return fmt::format("sdma{}/rlc{}", h.pipe, h.queue);
  if (h.xcc < 0) return fmt::format("pipe{}/q{}", h.pipe, h.queue);
  return fmt::format("xcc{}/pipe{}/q{}", h.xcc, h.pipe, h.queue);
}

std::string hex(std::uint64_t v) { return fmt::format("{:#x}", v); }

nlohmann::json slot_json(const Hqd& h) {
  nlohmann::json j{{"kind", to_string(h.kind)}, {"gpu_id", h.gpu_id}, {"node", h.node}};
  if (h.kind == HqdKind::Sdma) {
    j["engine"] = h.pipe;
    j["rlc"] = h.queue;
  } else {
    if (h.xcc >= 0) j["xcc"] = h.xcc;
    if (h.kind == HqdKind::Hiq) j["mec"] = h.mec;
    j["pipe"] = h.pipe;
    j["queue"] = h.queue;
    j["vmid"] = h.vmid;
    j["mqd"] = hex(h.mqd);
    j["ring_bytes"] = h.ring_bytes;
  }
  j["active"] = h.active;
  j["ring"] = hex(h.ring);
  j["doorbell"] = h.doorbell;
  return j;
}

}  // namespace

std::vector<std::string> hqd_text(const HqdJoin& j, const std::vector<std::uint32_t>& pids, ProcessNames& names) {
  std::vector<std::string> out;
  out.push_back(fmt::format("HQD slots from {} (one read of live registers)", kHqdsPath));
  for (const auto& g : j.gpus) {
    std::string line = fmt::format("GPU {:#x} (node {}", g.gpu_id, g.node);
    if (!g.gc.empty()) line += fmt::format(", GC {}", g.gc);
    line += "): ";
    if (g.stopped) line += "scheduler stopped (\"Device is stopped\"); ";
    line += fmt::format("{} XCC, CP slots {}/{} active, SDMA RLC {}/{} active, HIQ {}/{} active", g.xccs,
                        g.cp_active, g.cp_total, g.sdma_active, g.sdma_total, g.hiq_active, g.hiq_total);
    out.push_back(line);
    if (!g.layout_note.empty() && g.layout_note.find("unknown") != std::string::npos)
      out.push_back("  note: " + g.layout_note);
    for (const auto& e : g.errors) out.push_back("  NOT DECODED: " + e);
  }
  out.push_back(fmt::format("{:<8} {:<16} {:>5} {:<8} {:<18} {}", "PID", "COMM", "QID", "TYPE", "RING", "SLOTS"));
  std::size_t shown = 0;
  for (const auto& q : j.queues) {
    if (!selected(pids, q.entry.tgid)) continue;
    ++shown;
    std::string slots;
    if (q.slots.empty()) slots = "- (holds no hardware slot now)";
    for (const auto& h : q.slots) slots += (slots.empty() ? "" : " ") + slot_text(h);
    out.push_back(fmt::format("{:<8} {:<16} {:>5} {:<8} {:<18} {}", q.entry.tgid, names.comm(q.entry.tgid),
                              q.entry.info.qid, queue_type_name(q.entry.info.type), hex(q.entry.info.ring_addr),
                              slots));
    for (const auto& n : q.notes) out.push_back("  note: " + n);
  }
  if (shown == 0) out.push_back(pids.empty() ? "(no KFD user queues in the map)" : "(no queues of these processes)");
  for (const auto& p : j.processes) {
    if (!selected(pids, p.pid)) continue;
    out.push_back(fmt::format("process {} ({}): {} queues, {} on hardware, {} CP slots, {} SDMA slots", p.pid,
                              names.comm(p.pid), p.queues, p.resident, p.cp_slots, p.sdma_slots));
  }
  for (const auto& h : j.kernel)
    out.push_back(fmt::format("kernel: HIQ of gpu {:#x} {} (MEC {} pipe {} queue {}), ring {}", h.gpu_id,
                              h.xcc < 0 ? std::string("xcc0") : fmt::format("xcc{}", h.xcc), h.mec, h.pipe, h.queue,
                              hex(h.ring)));
  for (const auto& u : j.unmatched)
    out.push_back(fmt::format("STALE? gpu {:#x} {} active, ring {}, vmid {}, doorbell {:#x}: {}", u.hqd.gpu_id,
                              slot_text(u.hqd), hex(u.hqd.ring), u.hqd.vmid, u.hqd.doorbell, u.reason));
  return out;
}

nlohmann::json hqd_json(const HqdJoin& j, const std::vector<std::uint32_t>& pids) {
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& g : j.gpus)
    gpus.push_back({{"node", g.node},
                    {"gpu_id", g.gpu_id},
                    {"gc", g.gc.empty() ? nlohmann::json(nullptr) : nlohmann::json(g.gc)},
                    {"layout", g.layout_note},
                    {"stopped", g.stopped},
                    {"xccs", g.xccs},
                    {"cp", {{"active", g.cp_active}, {"total", g.cp_total}}},
                    {"sdma", {{"active", g.sdma_active}, {"total", g.sdma_total}}},
                    {"hiq", {{"active", g.hiq_active}, {"total", g.hiq_total}}},
                    {"errors", g.errors}});
  nlohmann::json queues = nlohmann::json::array();
  for (const auto& q : j.queues) {
    if (!selected(pids, q.entry.tgid)) continue;
    nlohmann::json slots = nlohmann::json::array();
    for (const auto& h : q.slots) slots.push_back(slot_json(h));
    queues.push_back({{"pid", q.entry.tgid},
                      {"qid", q.entry.info.qid},
                      {"context_id", q.entry.info.context_id},
                      {"gpu_id", q.entry.info.gpu_id},
                      {"type", queue_type_name(q.entry.info.type)},
                      {"ring", hex(q.entry.info.ring_addr)},
                      {"doorbell_off", q.entry.info.doorbell_off},
                      {"slots", slots},
                      {"notes", q.notes}});
  }
  nlohmann::json procs = nlohmann::json::array();
  for (const auto& p : j.processes)
    if (selected(pids, p.pid))
      procs.push_back({{"pid", p.pid},
                       {"queues", p.queues},
                       {"resident", p.resident},
                       {"cp_slots", p.cp_slots},
                       {"sdma_slots", p.sdma_slots}});
  nlohmann::json kernel = nlohmann::json::array();
  for (const auto& h : j.kernel) kernel.push_back(slot_json(h));
  nlohmann::json unmatched = nlohmann::json::array();
  for (const auto& u : j.unmatched) {
    auto s = slot_json(u.hqd);
    s["reason"] = u.reason;
    unmatched.push_back(s);
  }
  return {{"source", kHqdsPath},     {"gpus", gpus},           {"queues", queues},
          {"processes", procs},      {"kernel_queues", kernel}, {"unmatched", unmatched},
          {"stale_map", !j.unmatched.empty()}, {"decode_errors", j.decode_errors()}};
}

}  // namespace gp::hqd
