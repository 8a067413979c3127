// Options and checks shared by the tracing commands.
#pragma once

#include <cstdint>
#include <vector>

#include "tracing/event_source.h"
#include "tracing/session.h"

namespace CLI {
class App;
}

namespace gp::cli {

// The live session as the loops that wait on it see it (preempt, agent).
class SessionSource final : public EventSource {
 public:
  explicit SessionSource(Session& s) : s_(s) {}
  int ready_fd() const override { return s_.ready_fd(); }
  void pump() override { s_.poll(0); }
  const QueueMap& map() const override { return s_.map(); }

 private:
  Session& s_;
};

// --btf FILE, --ringbuf-kb N, -v/--verbose, --kprobe-only
void add_session_options(CLI::App* cmd, SessionOptions& opts, std::uint32_t& ringbuf_kb);
// Applies --ringbuf-kb (must be a power of two of at least 4 KiB); throws UserError.
void finish_session_options(SessionOptions& opts, std::uint32_t ringbuf_kb);
// Each -p PID must name a running process; throws UserError for the first that does not.
void require_pids_exist(const std::vector<std::uint32_t>& pids);

}  // namespace gp::cli
