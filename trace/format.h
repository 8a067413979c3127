// The trace file: versioned JSON Lines, one record per line.
//
//   line 1     {"type":"header","format":"gpreempt-bpf-trace","version":3,...}
//   lines 2..  {"type":"event",...}  (event_json.h)  and  {"type":"stats",...}
//   last line  {"type":"trailer","events":N,"lost":N,...}
//
// A file without a trailer was not closed by its recorder (killed, disk full):
// it is "truncated". See trace/reader.h for what the reader does with it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trace/event.h"

namespace gp::trace {

inline constexpr const char* kTraceFormatName = "gpreempt-bpf-trace";
// The version this build writes. It reads every version from
// kOldestTraceFormatVersion up to it; what changed between them is in
// trace/README.md ("File format"). Version 2: an ioctl event's "ioctl" object
// holds only the fields of that ioctl (event_json.h). Version 3: preempt and
// preempt_victim events carry the 64-bit "seq" that joins them at the top
// level (versions 1 and 2: a 32-bit "preempt.seq", and a victim's "aux"), and
// "preempt.flags".
inline constexpr int kTraceFormatVersion = 3;
inline constexpr int kOldestTraceFormatVersion = 1;

struct GpuInfo {
  std::uint32_t gpu_id = 0;
  std::optional<std::string> name;  // e.g. "gfx942", when known
};

// One entry of the queue map at start: what the startup reconciliation found.
struct InitialQueue {
  std::uint32_t pid = 0;  // owner tgid
  gp_queue_info queue{};
};

struct Header {
  int version = kTraceFormatVersion;  // as read; TraceWriter always writes kTraceFormatVersion
  std::string tool_version;
  std::string host;  // "synthetic" for generated test traces
  std::string kernel;
  std::optional<std::string> kfd_version;  // "1.17"; null when /dev/kfd could not be asked
  std::vector<GpuInfo> gpus;
  std::uint64_t start_monotonic_ns = 0;  // same clock as the events' ts_ns
  std::uint64_t start_realtime_ns = 0;
  std::vector<std::uint32_t> pids;  // -p filters, or the workload started with `--`
  std::optional<std::vector<std::string>> command;  // the `-- CMD ARGS` workload
  std::vector<InitialQueue> initial_queues;
};

// Periodic recorder statistics (optional lines, any number).
struct Stats {
  std::uint64_t ts_ns = 0;  // monotonic
  std::uint64_t events = 0;
  std::uint64_t lost = 0;
  std::uint32_t live_queues = 0;
};

struct Trailer {
  std::uint64_t events = 0;  // event lines in the file (TraceWriter counts them)
  std::uint64_t lost = 0;    // events the kernel side dropped (gp_lost map)
  std::uint64_t end_monotonic_ns = 0;
  std::uint64_t end_realtime_ns = 0;
};

nlohmann::json to_json(const Header& h);
nlohmann::json to_json(const Stats& s);
nlohmann::json to_json(const Trailer& t);
// Strict parsers; throw gp::EventJsonError naming the key. header_from_json
// does not check format/version (the reader does, with a better message).
Header header_from_json(const nlohmann::json& j);
Stats stats_from_json(const nlohmann::json& j);
Trailer trailer_from_json(const nlohmann::json& j);

}  // namespace gp::trace
