// The human-readable forms of events and of the queue map (watch, queues).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trace/event.h"
#include "tracing/queue_map.h"

namespace gp {

class ProcessNames;

std::string event_text_header();
// One line, no newline. t0_ns: session start, for the relative TIME column.
std::string event_text_line(const Event& ev, std::uint64_t t0_ns, ProcessNames& names);

// Per-process summary of the map: PID COMM QUEUES ACTIVE SUSPENDED EVICTED QIDS.
std::vector<std::string> map_process_table(const QueueMap& map, ProcessNames& names);
// One row per queue (queues command).
std::vector<std::string> map_queue_table(const std::vector<QueueEntry>& queues, ProcessNames& names);

}  // namespace gp
