// Options and checks shared by the tracing commands.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "attach/doorbell_probe.h"
#include "tracing/event_source.h"
#include "tracing/session.h"

namespace CLI {
class App;
}

namespace gp::cli {

// The live session as the loops that wait on it see it (preempt, agent).
// after_pump runs on the loop's thread after each poll, like the map itself
// (the metrics refresh their snapshot of the map there).
class SessionSource final : public EventSource {
 public:
  explicit SessionSource(Session& s, std::function<void(const QueueMap&)> after_pump = {})
      : s_(s), after_pump_(std::move(after_pump)) {}
  int ready_fd() const override { return s_.ready_fd(); }
  void pump() override {
    s_.poll(0);
    if (after_pump_) after_pump_(s_.map());
  }
  const QueueMap& map() const override { return s_.map(); }

 private:
  Session& s_;
  std::function<void(const QueueMap&)> after_pump_;
};

// --btf FILE, --ringbuf-kb N, -v/--verbose, --kprobe-only
void add_session_options(CLI::App* cmd, SessionOptions& opts, std::uint32_t& ringbuf_kb);
// --metrics-listen ADDR:PORT (watch, preempt): the Prometheus endpoint (docs/deploy.md).
void add_metrics_option(CLI::App* cmd, std::string& listen);
// The automatic mode's doorbell uprobes (preempt --online-pid, agent), with
// --btf only where the kernel has no BTF of its own. Optional: on failure it
// says why on stdout and returns null, and detection polls the queue pointers.
std::unique_ptr<DoorbellProbe> load_doorbell_probe(const SessionOptions& opts);
// Applies --ringbuf-kb (must be a power of two of at least 4 KiB); throws UserError.
void finish_session_options(SessionOptions& opts, std::uint32_t ringbuf_kb);
// Each -p PID must name a running process; throws UserError for the first that does not.
void require_pids_exist(const std::vector<std::uint32_t>& pids);

}  // namespace gp::cli
