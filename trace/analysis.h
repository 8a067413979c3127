// Turns recorded events into the facts the report and the Perfetto export
// show: queue lives (one struct queue *, from add to remove), their state
// spans, per-process queue counts, preemptions with their victims, and the
// lifecycle timeline. Pure functions of a Trace; no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "trace/event.h"
#include "trace/reader.h"

namespace gp::trace {

// What a queue was doing, from its flags: suspended wins over evicted, which
// wins over active; none of the three is "inactive" (unmapped for another
// reason, e.g. an update to a zero-size ring).
enum class QueueState { Active, Inactive, Evicted, Suspended };
const char* to_string(QueueState s);
QueueState state_of_flags(std::uint8_t queue_flags);

// Why a span or a life ended.
enum class EndReason { Event, Destroyed, TraceEnd, Sweep, Replaced };
const char* to_string(EndReason r);

struct StateSpan {
  QueueState state{};
  std::uint64_t begin_ns = 0;
  std::uint64_t end_ns = 0;
  Cause cause{};  // cause of the event that entered this state
  EndReason ended_by = EndReason::Event;
  std::uint64_t duration_ns() const { return end_ns - begin_ns; }
};

// One queue from its add to its remove. qids are reused: a (pid, qid) pair
// can have several lives, never overlapping.
struct QueueLife {
  std::uint32_t pid = 0;
  gp_queue_info attrs{};  // as first seen (creation, snapshot or header)
  std::optional<std::uint64_t> created_ns;    // nullopt: existed when the trace began
  std::optional<std::uint64_t> destroyed_ns;  // nullopt: never seen removed
  std::uint64_t begin_ns = 0;                 // created_ns or trace start
  std::uint64_t end_ns = 0;                   // destroyed_ns or the end of observation
  EndReason ended_by = EndReason::TraceEnd;
  Cause destroy_cause{};
  std::vector<StateSpan> spans;  // a partition of [begin_ns, end_ns)
  std::uint32_t updates = 0;     // queue_state events with cause "update"
};

struct CountSummary {
  std::uint64_t window_begin_ns = 0;  // first queue seen
  std::uint64_t window_end_ns = 0;    // last queue gone, or end of observation
  std::uint32_t min = 0;
  std::uint32_t max = 0;
  double mean = 0;  // time-weighted over the window
  std::vector<std::pair<std::uint64_t, std::uint32_t>> steps;  // (ts, live queues after ts)
};

struct ProcessSummary {
  std::uint32_t pid = 0;
  std::string comm;     // main thread's comm when seen, else any thread's, else "[unknown]"
  std::string program;  // the recorded command for the workload root, else comm
  std::vector<std::size_t> lives;  // indices into TraceAnalysis::lives, by begin time
  CountSummary count;
  std::uint32_t creates = 0;
  std::uint32_t destroys = 0;
  std::uint32_t creates_after_first_destroy = 0;  // 0: "stable"
  std::uint32_t failed_creates = 0;
  std::vector<std::uint32_t> qids;  // sorted, unique
  bool stable() const { return creates_after_first_destroy == 0; }
};

struct Victim {
  std::uint32_t pid = 0;
  std::uint32_t qid = 0;
  std::uint32_t gpu_id = 0;
  std::optional<std::size_t> life;  // index into lives, when the queue is known
  bool collateral = false;          // owner is not the process the cause acted on
};

struct Preemption {
  std::uint64_t ts_ns = 0;  // T0
  Cause cause{};
  gp_preempt_info info{};
  std::uint64_t seq = 0;  // joins the victims (gp_event.seq)
  std::uint32_t acting_pid = 0;
  std::vector<Victim> victims;
  std::uint64_t firmware_ns() const;  // T3 - T2, 0 when either is missing
  // T4 - T0 from the absolute end when present: the u32 offsets saturate at 4.29 s.
  std::uint64_t total_ns() const;
};

// One line of the lifecycle timeline (experiment 4).
struct LifecycleEntry {
  std::uint64_t ts_ns = 0;
  std::string what;  // create, destroy, update, create-failed, destroy-failed, ...
  std::uint32_t pid = 0;
  std::optional<std::uint32_t> qid;
  std::uint32_t gpu_id = 0;
  std::string detail;
};

struct TraceAnalysis {
  const Trace* trace = nullptr;
  std::uint64_t start_ns = 0;
  std::uint64_t end_ns = 0;
  std::vector<QueueLife> lives;                       // by begin time
  std::map<std::uint32_t, ProcessSummary> processes;  // by pid
  std::vector<Preemption> preemptions;                // by T0
  std::vector<LifecycleEntry> lifecycle;              // by time
  std::uint32_t unmatched_removes = 0;  // remove of a queue never added (lost event or pre-start)
  std::uint32_t unmatched_victims = 0;  // victim whose preempt is not in the file
};

TraceAnalysis analyze(const Trace& trace);

// Nearest-rank percentile of an unsorted sample (p in 0..100); 0 if empty.
std::uint64_t percentile(std::vector<std::uint64_t> values, double p);

}  // namespace gp::trace
