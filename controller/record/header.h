// The header line of a recorded trace (trace/format.h): what host and
// driver produced it, when it started, and the queue map it started from.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "host/host_facts.h"
#include "trace/format.h"
#include "tracing/queue_map.h"

namespace gp::record {

struct StartTime {
  std::uint64_t monotonic_ns = 0;  // the events' clock (bpf_ktime_get_ns)
  std::uint64_t realtime_ns = 0;
};
StartTime now();

struct HeaderInput {
  HostFacts facts;
  std::string host;                     // nodename
  std::vector<trace::GpuInfo> gpus;
  StartTime start;
  std::vector<std::uint32_t> pids;      // the tree's roots
  std::optional<std::vector<std::string>> command;
  std::vector<QueueEntry> queues;       // the reconciled map at start
  std::function<bool(std::uint32_t)> keep_owner;  // the filter; empty = all
};

trace::Header build_header(const HeaderInput& in);

// "gfx942" from KFD's gfx_target_version (major*10000 + minor*100 + stepping,
// minor and stepping printed in hex: 90010 -> gfx90a); nullopt for 0.
std::optional<std::string> gfx_name(std::uint32_t gfx_target_version);
// The GPUs of the KFD topology (host_path()), sorted by gpu_id, named from
// each node's properties when they carry gfx_target_version.
std::vector<trace::GpuInfo> topology_gpus();
std::string host_name();

}  // namespace gp::record
