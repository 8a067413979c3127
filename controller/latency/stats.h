// The arithmetic of `gpreempt-bpf latency`, free of I/O and BPF so
// the unit tests drive it with hand-made events: phases of one preemption
// span, the -p/--gpu/--cause filter, victims joined to their span, and the
// per-interval aggregate (log2 histogram per cause, phase percentiles, error
// and victim counts). cli/render/latency.h renders it as text and JSON.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "trace/event.h"
#include "trace/histogram.h"

namespace gp::latency {

// bcc's funclatency/biolatency units: microseconds, or milliseconds with -m.
enum class Unit { Usecs, Msecs };
std::string_view unit_name(Unit u);                    // "usecs" / "msecs"
std::uint64_t to_unit(std::uint64_t ns, Unit u);       // truncates, as bcc does

// docs/kfd-internals.md §3: T0 unmap entry, T1/T2 pm_send_unmap_queue entry/return,
// T3 fence wait return, T4 unmap return; remap = map_queues_cpsch submission.
enum class Phase : std::size_t { Grace, Submit, Firmware, Post, Remap, Total };
constexpr std::size_t kPhases = 6;
std::string_view phase_name(Phase p);   // "grace", "submit", ...
std::string_view phase_label(Phase p);  // "T1-T0 grace programming", ...

// The u32 offsets of gp_preempt_info saturate at 4.29 s (a fence timeout is
// 9 s by default): a saturated point cannot be placed, so the phases touching
// it are unknown; only the total stays exact (from end_ns).
constexpr std::uint32_t kSaturated = 0xffffffffu;

// T4 - T0, exact from the absolute end when the BPF side filled it.
std::uint64_t total_ns(const gp_preempt_info& p);

struct PhaseTimes {
  std::array<std::optional<std::uint64_t>, kPhases> ns{};  // nullopt: did not happen / unknown
  bool saturated = false;                                   // a point was past 4.29 s
  const std::optional<std::uint64_t>& operator[](Phase p) const { return ns[static_cast<std::size_t>(p)]; }
};
// Only HWS spans that sent a packet have T1..T3; MES spans and early returns
// have a total (and HWS a remap) only.
PhaseTimes phases_of(const gp_preempt_info& p);

struct Victim {
  std::uint32_t pid = 0;
  std::uint32_t qid = 0;
};

// One preemption as user space assembles it: the GP_EV_PREEMPT record plus the
// GP_EV_PREEMPT_VICTIM records with the same seq (emitted when the packet goes
// out, T1, or at a MES suspend-all's entry: always before the span itself).
struct Span {
  gp_preempt_info info{};
  Cause cause = Cause::None;
  int ret = 0;
  std::vector<Victim> victims;
  // MES: the owner of the queue named by the doorbell, when the map knows it.
  std::optional<std::uint32_t> mes_owner;
};

// Holds victims until their preemption arrives. Bounded: a victim whose span
// never comes (lost, or the tool started between T0 and T4) is dropped with
// the oldest seqs and counted.
class VictimJoin {
 public:
  explicit VictimJoin(std::size_t max_pending = 4096) : max_pending_(max_pending) {}
  void add(std::uint64_t seq, Victim v);
  std::vector<Victim> take(std::uint64_t seq);
  std::uint64_t dropped() const { return dropped_; }
  std::size_t pending() const { return by_seq_.size(); }

 private:
  std::size_t max_pending_;
  std::unordered_map<std::uint64_t, std::vector<Victim>> by_seq_;
  std::deque<std::uint64_t> order_;
  std::uint64_t dropped_ = 0;
};

// MES spans name a queue by doorbell offset only; the map turns it into an
// owner and gpu when exactly one mapped queue has that doorbell (offsets are
// per device, so two GPUs can share one).
struct DoorbellOwner {
  std::uint32_t pid = 0;
  std::uint32_t qid = 0;
  std::uint32_t gpu_id = 0;
};
std::optional<DoorbellOwner> resolve_doorbell(const std::vector<std::pair<gp_queue_info, std::uint32_t>>& queues,
                                              std::uint32_t doorbell_off);

// -p PID keeps a preemption when PID is the process its cause acted on, or
// owns one of the queues it preempted (collateral included): "what touched
// my process". --gpu and --cause match exactly.
struct Filter {
  std::optional<std::uint32_t> pid;
  std::optional<std::uint32_t> gpu_id;
  std::optional<Cause> cause;
  bool matches(const Span& s) const;
};

// The cause a span is counted under: its own, except that a MES span the
// kernel marks as not KFD's (GP_PF_NOT_KFD) is an amdgpu graphics user queue
// span whatever KFD frame was on the thread.
Cause span_cause(Cause cause, const gp_preempt_info& p);

// Histogram label: the cause name; MES add_hw_queue spans are maps, not
// preemptions, and get their own "<cause> (map)" label; a MES suspend or
// resume of every queue is "<cause> (all queues)".
std::string cause_label(const Span& s);

struct Counts {
  std::uint64_t spans = 0;          // every span kept by the filter
  std::uint64_t no_packet = 0;      // HWS unmap that returned before sending anything
  std::uint64_t etime = 0;          // -ETIME: fence timeout (hang, GPU reset follows)
  std::uint64_t eio = 0;            // -EIO: reset in progress / fatal error
  std::uint64_t other_errors = 0;   // any other non-zero return
  std::uint64_t saturated = 0;      // a phase point past 4.29 s (phases unknown, total exact)
  std::uint64_t mes = 0;            // MES remove spans
  std::uint64_t mes_maps = 0;       // MES add spans
  std::uint64_t mes_all = 0;        // MES suspend/resume of every queue on the GPU
  std::uint64_t not_kfd = 0;        // MES spans of amdgpu graphics user queues
  std::uint64_t victims_unknown = 0;// a packet went out but its runlist was not known
  std::uint64_t victims_truncated = 0;  // more victims than one record lists
  std::uint64_t queue_resets = 0;   // the kernel reset hung queues inside the span
  std::uint64_t victims = 0;        // queues preempted (HWS: the runlist the packet unmapped)
  std::uint64_t collateral = 0;     // victims owned by another process than the cause's
  std::uint32_t max_victims = 0;
};

// One interval's worth of spans (reset() between intervals, as bcc clears its
// histogram map).
class Aggregator {
 public:
  explicit Aggregator(Unit unit = Unit::Usecs) : unit_(unit) {}
  void add(const Span& s);  // the caller filters first
  void reset();

  const Counts& counts() const { return counts_; }
  // cause label -> histogram of totals in the unit; only spans that did work
  // (HWS early returns are counted, not histogrammed: they measure nothing).
  const std::map<std::string, trace::Log2Histogram>& histograms() const { return hists_; }
  const std::vector<std::uint64_t>& phase_samples(Phase p) const { return phases_[static_cast<std::size_t>(p)]; }

  Unit unit() const { return unit_; }

 private:
  Unit unit_;
  Counts counts_;
  std::map<std::string, trace::Log2Histogram> hists_;
  std::array<std::vector<std::uint64_t>, kPhases> phases_;  // ns, HWS spans with a packet
};

}  // namespace gp::latency
