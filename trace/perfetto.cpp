#include "trace/perfetto.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace gp::trace {

using nlohmann::json;

namespace {

// Keeps the pids of several runs apart; real tgids stay below 2^22.
constexpr std::int64_t kRunPidStride = 10'000'000;
// Synthetic processes for the per-GPU preemption tracks.
constexpr std::int64_t kGpuPidBase = 2'000'000'000;

class Exporter {
 public:
  json run(const std::vector<TraceAnalysis>& runs) {
    for (std::size_t k = 0; k < runs.size(); ++k) add_run(runs[k], k, runs.size() > 1);
    // Perfetto sorts by itself, but a time-ordered file is easier to diff and
    // to check; metadata (no time) goes first.
    std::stable_sort(timed_.begin(), timed_.end(),
                     [](const json& a, const json& b) { return a["ts"].get<double>() < b["ts"].get<double>(); });
    json events = std::move(meta_);
    for (auto& e : timed_) events.push_back(std::move(e));
    json sources = json::array();
    for (const auto& a : runs) sources.push_back(a.trace->source);
    return {{"traceEvents", std::move(events)},
            {"displayTimeUnit", "ns"},
            {"otherData", {{"exporter", "gpreempt-bpf report --perfetto"}, {"sources", std::move(sources)}}}};
  }

 private:
  void add_run(const TraceAnalysis& a, std::size_t k, bool many) {
    start_ = a.start_ns;
    const std::int64_t offset = static_cast<std::int64_t>(k) * kRunPidStride;
    const std::string suffix = many ? fmt::format(" [run {}]", k + 1) : "";
    // pid -> (qid, gpu) -> tracks with the end of their last slice. A reused
    // qid continues on its track; a life that overlaps the previous one (a
    // lost remove) gets a track of its own, so slices always nest.
    struct Track {
      int tid;
      std::uint64_t end_ns;
    };
    std::map<std::uint32_t, std::map<std::pair<std::uint32_t, std::uint32_t>, std::vector<Track>>> tracks;
    std::map<std::uint32_t, int> next_tid;
    auto process_track = [&](std::uint32_t pid) {
      std::int64_t cpid = offset + pid;
      if (!named_processes_.insert(cpid).second) return cpid;
      auto it = a.processes.find(pid);
      std::string comm = it != a.processes.end() ? it->second.comm : "[unknown]";
      metadata(cpid, 0, "process_name", {{"name", fmt::format("{} ({}){}", comm, pid, suffix)}});
      metadata(cpid, 0, "process_sort_index", {{"sort_index", cpid}});
      metadata(cpid, 0, "thread_name", {{"name", "process"}});
      return cpid;
    };
    auto queue_track = [&](const QueueLife& l) {
      std::int64_t cpid = process_track(l.pid);
      auto& same_queue = tracks[l.pid][{l.attrs.qid, l.attrs.gpu_id}];
      for (Track& t : same_queue)
        if (t.end_ns <= l.begin_ns) {
          t.end_ns = l.end_ns;
          return std::make_pair(cpid, t.tid);
        }
      int tid = ++next_tid[l.pid];
      same_queue.push_back({tid, l.end_ns});
      metadata(cpid, tid, "thread_name",
               {{"name", same_queue.size() == 1
                             ? fmt::format("queue {} gpu {}", l.attrs.qid, l.attrs.gpu_id)
                             : fmt::format("queue {} gpu {} (overlapping #{})", l.attrs.qid, l.attrs.gpu_id,
                                           same_queue.size())}});
      metadata(cpid, tid, "thread_sort_index", {{"sort_index", tid}});
      return std::make_pair(cpid, tid);
    };

    // Queue tracks in pid, then begin-time order, so tids are stable.
    std::vector<std::pair<std::int64_t, int>> life_track(a.lives.size());
    for (const auto& [pid, p] : a.processes) {
      for (std::size_t idx : p.lives) {
        const QueueLife& l = a.lives[idx];
        auto [cpid, tid] = life_track[idx] = queue_track(l);
        slice(cpid, tid, fmt::format("queue {}", l.attrs.qid), "queue", l.begin_ns, l.end_ns,
              {{"type", queue_type_name(l.attrs.type)},
               {"format", queue_format_name(l.attrs.format)},
               {"priority", l.attrs.priority},
               {"percent", l.attrs.percent},
               {"ring_size", l.attrs.ring_size},
               {"created_in_trace", l.created_ns.has_value()},
               {"ended_by", to_string(l.ended_by)}});
        for (const auto& s : l.spans)
          slice(cpid, tid, to_string(s.state), "state", s.begin_ns, s.end_ns, {{"cause", gp::to_string(s.cause)}});
      }
      if (!p.lives.empty()) {
        std::int64_t cpid = process_track(pid);
        for (const auto& [ts, n] : p.count.steps)
          timed_.push_back({{"ph", "C"}, {"name", "live queues"}, {"pid", cpid}, {"tid", 0}, {"ts", us(ts)},
                            {"args", {{"queues", n}}}});
      }
    }

    for (const auto& e : a.lifecycle) {
      if (e.what == "create" || e.what == "destroy" || e.what == "present") continue;  // they are the slices
      timed_.push_back({{"ph", "i"}, {"s", "t"}, {"name", e.what}, {"cat", "lifecycle"},
                        {"pid", process_track(e.pid)}, {"tid", 0}, {"ts", us(e.ts_ns)},
                        {"args", {{"detail", e.detail}, {"qid", e.qid ? json(*e.qid) : json(nullptr)}}}});
    }

    std::map<std::uint32_t, std::int64_t> gpu_pids;
    // Preemptions of one GPU serialize under the dqm lock, but clocks and
    // traces are not perfect: one that starts before the last one ended goes
    // to another lane (tid) so slices never straddle.
    std::map<std::int64_t, std::vector<std::uint64_t>> lane_ends;
    for (const auto& p : a.preemptions) {
      auto [git, fresh] = gpu_pids.emplace(p.info.gpu_id, kGpuPidBase + static_cast<std::int64_t>(k) * 1000 +
                                                              static_cast<std::int64_t>(gpu_pids.size()));
      std::int64_t gpid = git->second;
      if (fresh) {
        metadata(gpid, 0, "process_name", {{"name", fmt::format("gpu {} preemptions{}", p.info.gpu_id, suffix)}});
        metadata(gpid, 0, "process_sort_index", {{"sort_index", gpid}});
      }
      auto& lanes = lane_ends[gpid];
      const std::uint64_t end = std::max(p.ts_ns, p.ts_ns + p.total_ns());
      auto lane = std::find_if(lanes.begin(), lanes.end(), [&](std::uint64_t e) { return e <= p.ts_ns; });
      if (lane == lanes.end()) {
        lanes.push_back(end);
        lane = std::prev(lanes.end());
        int n = static_cast<int>(lanes.size());
        metadata(gpid, n, "thread_name", {{"name", n == 1 ? std::string("preemptions") : fmt::format("preemptions (overlapping #{})", n)}});
      } else {
        *lane = end;
      }
      const int ptid = static_cast<int>(lane - lanes.begin()) + 1;
      std::size_t collateral = std::count_if(p.victims.begin(), p.victims.end(), [](const Victim& v) { return v.collateral; });
      slice(gpid, ptid, fmt::format("preempt ({})", gp::to_string(p.cause)), "preempt", p.ts_ns,
            p.ts_ns + p.total_ns(),
            {{"cause", gp::to_string(p.cause)},
             {"cause_pid", p.info.cause_tgid},
             {"cause_qid", p.info.cause_qid == ~0u ? json(nullptr) : json(p.info.cause_qid)},
             {"packet_sent", p.info.packet_sent != 0},
             {"send_return_us", p.info.send_return_ns / 1e3},
             {"fence_return_us", p.info.fence_return_ns / 1e3},
             {"firmware_us", p.firmware_ns() / 1e3},
             {"victims", p.victims.size()},
             {"collateral", collateral}});
      for (const auto& v : p.victims) {
        if (!v.life) continue;
        auto [cpid, tid] = life_track[*v.life];
        const char* name = v.collateral ? "collateral victim" : "victim";
        std::uint64_t id = ++flow_id_;
        timed_.push_back({{"ph", "s"}, {"id", id}, {"name", name}, {"cat", "preempt"}, {"pid", gpid}, {"tid", ptid},
                          {"ts", us(p.ts_ns)}});
        timed_.push_back({{"ph", "i"}, {"s", "t"}, {"name", v.collateral ? "preempted (collateral)" : "preempted"},
                          {"cat", "preempt"}, {"pid", cpid}, {"tid", tid}, {"ts", us(p.ts_ns)},
                          {"args", {{"cause", gp::to_string(p.cause)}, {"cause_pid", p.info.cause_tgid}}}});
        timed_.push_back({{"ph", "f"}, {"bp", "e"}, {"id", id}, {"name", name}, {"cat", "preempt"}, {"pid", cpid},
                          {"tid", tid}, {"ts", us(p.ts_ns)}});
      }
    }
  }

  double us(std::uint64_t ts) const {
    // Negative would mean an event before the header's start: clamp, the
    // format has no time before 0.
    return ts > start_ ? static_cast<double>(ts - start_) / 1e3 : 0.0;
  }

  void slice(std::int64_t pid, int tid, std::string name, const char* cat, std::uint64_t begin, std::uint64_t end,
             json args) {
    timed_.push_back({{"ph", "X"}, {"name", std::move(name)}, {"cat", cat}, {"pid", pid}, {"tid", tid},
                      {"ts", us(begin)}, {"dur", std::max(0.0, us(end) - us(begin))}, {"args", std::move(args)}});
  }

  void metadata(std::int64_t pid, int tid, const char* name, json args) {
    meta_.push_back({{"ph", "M"}, {"name", name}, {"pid", pid}, {"tid", tid}, {"ts", 0}, {"args", std::move(args)}});
  }

  std::uint64_t start_ = 0;
  std::uint64_t flow_id_ = 0;
  std::set<std::int64_t> named_processes_;
  json meta_ = json::array();
  std::vector<json> timed_;
};

}  // namespace

json perfetto_json(const std::vector<TraceAnalysis>& runs) { return Exporter().run(runs); }

void write_perfetto(const std::vector<TraceAnalysis>& runs, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
  out << perfetto_json(runs).dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  out.close();
  if (!out) throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
}

}  // namespace gp::trace
