// Options and checks shared by the tracing commands.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tracing/session.h"

namespace CLI {
class App;
}

namespace gp::cli {

// --btf FILE, --ringbuf-kb N, -v/--verbose, --kprobe-only
void add_session_options(CLI::App* cmd, SessionOptions& opts, std::uint32_t& ringbuf_kb);
// --metrics-listen ADDR:PORT (watch, preempt): the Prometheus endpoint (docs/deploy.md).
void add_metrics_option(CLI::App* cmd, std::string& listen);
// Applies --ringbuf-kb (must be a power of two of at least 4 KiB); throws UserError.
void finish_session_options(SessionOptions& opts, std::uint32_t ringbuf_kb);
// Each -p PID must name a running process; throws UserError for the first that does not.
void require_pids_exist(const std::vector<std::uint32_t>& pids);

}  // namespace gp::cli
