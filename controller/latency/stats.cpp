#include "latency/stats.h"

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "trace/analysis.h"

namespace gp::latency {

std::string_view unit_name(Unit u) { return u == Unit::Msecs ? "msecs" : "usecs"; }

std::uint64_t to_unit(std::uint64_t ns, Unit u) { return u == Unit::Msecs ? ns / 1'000'000 : ns / 1'000; }

namespace {

constexpr std::array<std::string_view, kPhases> kPhaseNames = {"grace", "submit", "firmware", "post", "remap", "total"};
constexpr std::array<std::string_view, kPhases> kPhaseLabels = {
    "T1-T0 grace programming", "T2-T1 packet submit", "T3-T2 firmware + CWSR",
    "T4-T3 post checks",       "remap submit",        "T4-T0 total"};

// An offset is a usable point when it happened and is not saturated.
bool point(std::uint32_t off) { return off != 0 && off != kSaturated; }

}  // namespace

std::string_view phase_name(Phase p) { return kPhaseNames[static_cast<std::size_t>(p)]; }
std::string_view phase_label(Phase p) { return kPhaseLabels[static_cast<std::size_t>(p)]; }

std::uint64_t total_ns(const gp_preempt_info& p) {
  return p.t0_ns && p.end_ns >= p.t0_ns ? p.end_ns - p.t0_ns : p.total_ns;
}

PhaseTimes phases_of(const gp_preempt_info& p) {
  PhaseTimes out;
  auto set = [&](Phase ph, std::uint64_t v) { out.ns[static_cast<std::size_t>(ph)] = v; };
  const std::uint64_t total = total_ns(p);
  set(Phase::Total, total);
  if (p.remap_ns) {
    if (p.remap_ns == kSaturated) out.saturated = true;
    else set(Phase::Remap, p.remap_ns);
  }
  if (p.mes || !p.packet_sent) return out;

  const std::uint32_t t1 = p.send_entry_ns, t2 = p.send_return_ns, t3 = p.fence_return_ns;
  out.saturated = out.saturated || t1 == kSaturated || t2 == kSaturated || t3 == kSaturated;
  // T1 may legitimately be 0 ns after T0 only in theory; the BPF side uses 0
  // for "did not happen", and packet_sent says T1 did, so take it as is.
  if (t1 != kSaturated) set(Phase::Grace, t1);
  if (t1 != kSaturated && point(t2) && t2 >= t1) set(Phase::Submit, t2 - t1);
  if (point(t2) && point(t3) && t3 >= t2) set(Phase::Firmware, t3 - t2);
  if (point(t3) && total >= t3) set(Phase::Post, total - t3);
  return out;
}

void VictimJoin::add(std::uint64_t seq, Victim v) {
  auto [it, fresh] = by_seq_.try_emplace(seq);
  it->second.push_back(v);
  if (!fresh) return;
  order_.push_back(seq);
  while (by_seq_.size() > max_pending_ && !order_.empty()) {
    auto old = by_seq_.find(order_.front());
    order_.pop_front();
    if (old == by_seq_.end()) continue;  // already taken
    dropped_ += old->second.size();
    by_seq_.erase(old);
  }
}

std::vector<Victim> VictimJoin::take(std::uint64_t seq) {
  auto it = by_seq_.find(seq);
  if (it == by_seq_.end()) return {};
  std::vector<Victim> out = std::move(it->second);
  by_seq_.erase(it);
  // Taken seqs stay in order_ until they reach the front: cheaper than a
  // search, and add() skips them.
  while (!order_.empty() && !by_seq_.count(order_.front())) order_.pop_front();
  return out;
}

std::optional<DoorbellOwner> resolve_doorbell(const std::vector<std::pair<gp_queue_info, std::uint32_t>>& queues,
                                              std::uint32_t doorbell_off) {
  std::optional<DoorbellOwner> found;
  for (const auto& [q, pid] : queues) {
    if (q.doorbell_off != doorbell_off) continue;
    if (found) return std::nullopt;  // ambiguous: several GPUs use this offset
    found = DoorbellOwner{pid, q.qid, q.gpu_id};
  }
  return found;
}

bool Filter::matches(const Span& s) const {
  if (cause && s.cause != *cause) return false;
  if (gpu_id && s.info.gpu_id != *gpu_id) return false;
  if (!pid) return true;
  if (s.info.cause_tgid == *pid) return true;
  if (s.mes_owner && *s.mes_owner == *pid) return true;
  return std::any_of(s.victims.begin(), s.victims.end(), [&](const Victim& v) { return v.pid == *pid; });
}

Cause span_cause(Cause cause, const gp_preempt_info& p) {
  return p.mes && (p.flags & GP_PF_NOT_KFD) ? Cause::GfxUserq : cause;
}

std::string cause_label(const Span& s) {
  std::string label(to_string(s.cause));
  if (s.info.mes && (s.info.flags & GP_PF_ALL_QUEUES)) label += " (all queues)";
  if (s.info.mes && s.info.mes_add) label += " (map)";
  return label;
}

void Aggregator::add(const Span& s) {
  ++counts_.spans;
  if (s.ret == -ETIME) ++counts_.etime;
  else if (s.ret == -EIO) ++counts_.eio;
  else if (s.ret != 0) ++counts_.other_errors;
  if (s.info.mes) ++(s.info.mes_add ? counts_.mes_maps : counts_.mes);
  if (s.info.mes && (s.info.flags & GP_PF_ALL_QUEUES)) ++counts_.mes_all;
  if (s.info.mes && (s.info.flags & GP_PF_NOT_KFD)) ++counts_.not_kfd;
  if (s.info.flags & GP_PF_VICTIMS_UNKNOWN) ++counts_.victims_unknown;
  if (s.info.flags & GP_PF_VICTIMS_TRUNCATED) ++counts_.victims_truncated;
  if (s.info.flags & GP_PF_QUEUE_RESET) ++counts_.queue_resets;

  // The span's own count: past a record's capacity it exceeds the listed ones.
  const std::uint32_t hit = std::max<std::uint32_t>(s.info.victims, static_cast<std::uint32_t>(s.victims.size()));
  counts_.victims += hit;
  counts_.max_victims = std::max(counts_.max_victims, hit);
  for (const auto& v : s.victims) counts_.collateral += v.pid != s.info.cause_tgid;

  if (!s.info.mes && !s.info.packet_sent) {
    ++counts_.no_packet;  // nothing was mapped: no firmware work to time
    return;
  }
  PhaseTimes ph = phases_of(s.info);
  counts_.saturated += ph.saturated;
  hists_[cause_label(s)].add(to_unit(*ph[Phase::Total], unit_));
  if (s.info.mes) return;  // MES: one firmware call, no T1..T3
  for (std::size_t i = 0; i < kPhases; ++i)
    if (ph.ns[i]) phases_[i].push_back(*ph.ns[i]);
}

void Aggregator::reset() { *this = Aggregator(unit_); }

}  // namespace gp::latency
