#include "cli/render/latency.h"

#include <fmt/format.h>

#include "trace/histogram.h"

namespace gp::latency {

namespace {

std::string fmt_unit(std::uint64_t ns, Unit u) {
  // Phases are often far below one unit: keep one decimal so a 0.4 us submit
  // does not read as 0.
  double v = u == Unit::Msecs ? static_cast<double>(ns) / 1e6 : static_cast<double>(ns) / 1e3;
  return fmt::format("{:.1f}", v);
}

}  // namespace

std::string latency_text(const Aggregator& a) {
  const Unit unit_ = a.unit();
  const Counts& counts_ = a.counts();
  const auto& hists_ = a.histograms();
  std::string out;
  if (counts_.spans == 0) return "no preemptions\n";
  for (const auto& [label, h] : hists_) {
    out += fmt::format("\ncause = {}\n", label);
    out += trace::format_log2_hist(h, unit_name(unit_));
  }
  const auto& total = a.phase_samples(Phase::Total);
  if (!total.empty()) {
    out += fmt::format("\nHWS phases ({} preemption{} that sent a packet), {}:\n", total.size(),
                       total.size() == 1 ? "" : "s", unit_name(unit_));
    out += fmt::format("  {:<26} {:>7} {:>10} {:>10} {:>10} {:>10}\n", "phase", "count", "p50", "p90", "p99", "max");
    for (std::size_t i = 0; i < kPhases; ++i) {
      const auto& v = a.phase_samples(static_cast<Phase>(i));
      if (v.empty()) {
        out += fmt::format("  {:<26} {:>7} {:>10} {:>10} {:>10} {:>10}\n", phase_label(static_cast<Phase>(i)), 0, "-", "-", "-", "-");
        continue;
      }
      out += fmt::format("  {:<26} {:>7} {:>10} {:>10} {:>10} {:>10}\n", phase_label(static_cast<Phase>(i)), v.size(),
                         fmt_unit(trace::percentile(v, 50), unit_), fmt_unit(trace::percentile(v, 90), unit_),
                         fmt_unit(trace::percentile(v, 99), unit_), fmt_unit(trace::percentile(v, 100), unit_));
    }
  }
  const Counts& c = counts_;
  out += fmt::format("\n{} preemption span{}: {} without a packet (nothing mapped), {} -ETIME, {} -EIO, {} other errors",
                     c.spans, c.spans == 1 ? "" : "s", c.no_packet, c.etime, c.eio, c.other_errors);
  if (c.mes || c.mes_maps) out += fmt::format(", MES {} removes / {} adds", c.mes, c.mes_maps);
  if (c.mes_all) out += fmt::format(" ({} of every queue)", c.mes_all);
  if (c.not_kfd) out += fmt::format(", {} of amdgpu graphics user queues (not KFD)", c.not_kfd);
  if (c.queue_resets) out += fmt::format(", {} with a hung-queue reset", c.queue_resets);
  if (c.saturated) out += fmt::format(", {} past 4.29 s (phases unknown, total exact)", c.saturated);
  out += fmt::format("\nvictims: {} queue{} ({:.1f} per preemption, max {}), {} collateral (another process's)\n",
                     c.victims, c.victims == 1 ? "" : "s", static_cast<double>(c.victims) / static_cast<double>(c.spans),
                     c.max_victims, c.collateral);
  if (c.victims_unknown)
    out += fmt::format("  {} preemption{} with victims unknown (the runlist was uploaded before the probes attached, "
                       "or after a failed preemption)\n",
                       c.victims_unknown, c.victims_unknown == 1 ? "" : "s");
  if (c.victims_truncated)
    out += fmt::format("  {} preemption{} with more victims than listed (counted, not all named)\n",
                       c.victims_truncated, c.victims_truncated == 1 ? "" : "s");
  return out;
}

nlohmann::json latency_json(const Aggregator& a) {
  const Unit unit_ = a.unit();
  const Counts& c = a.counts();
  const auto& hists_ = a.histograms();
  nlohmann::json hists = nlohmann::json::object();
  for (const auto& [label, h] : hists_) {
    nlohmann::json slots = nlohmann::json::array();
    const auto& v = h.slots();
    for (std::size_t i = 0; i < v.size(); ++i)
      if (v[i]) slots.push_back({{"low", i == 0 ? 0 : std::uint64_t{1} << i}, {"high", (std::uint64_t{2} << i) - 1}, {"count", v[i]}});
    hists[label] = {{"count", h.total()}, {"slots", slots}};
  }
  nlohmann::json phases = nlohmann::json::object();
  for (std::size_t i = 0; i < kPhases; ++i) {
    const auto& v = a.phase_samples(static_cast<Phase>(i));
    phases[std::string(phase_name(static_cast<Phase>(i)))] = {{"count", v.size()},
                                           {"p50_ns", trace::percentile(v, 50)},
                                           {"p90_ns", trace::percentile(v, 90)},
                                           {"p99_ns", trace::percentile(v, 99)},
                                           {"max_ns", trace::percentile(v, 100)}};
  }
  return {{"unit", unit_name(unit_)},
          {"spans", c.spans},
          {"no_packet", c.no_packet},
          {"etime", c.etime},
          {"eio", c.eio},
          {"other_errors", c.other_errors},
          {"saturated", c.saturated},
          {"mes_removes", c.mes},
          {"mes_adds", c.mes_maps},
          {"mes_all_queues", c.mes_all},
          {"not_kfd", c.not_kfd},
          {"queue_resets", c.queue_resets},
          {"victims_unknown", c.victims_unknown},
          {"victims_truncated", c.victims_truncated},
          {"victims", c.victims},
          {"max_victims", c.max_victims},
          {"collateral", c.collateral},
          {"histograms", hists},
          {"phases_ns", phases}};
}

}  // namespace gp::latency
