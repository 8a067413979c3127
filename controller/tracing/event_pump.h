// Raw ring-buffer records in, decoded events out: decode, apply to the map,
// hand to every sink, and notice loss. Shared by the live session and the
// native BPF tests, so what the tests drive is what the product runs.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "trace/event.h"
#include "tracing/event_sink.h"
#include "tracing/queue_map.h"

namespace gp {

struct PumpCounters {
  std::uint64_t events = 0;
  std::uint64_t decode_errors = 0;
  std::uint64_t lost = 0;  // last total reported by the kernel side
};

class EventPump {
 public:
  explicit EventPump(QueueMap& map) : map_(map) {}

  void add_sink(EventSink* sink) { sinks_.push_back(sink); }
  // Called when new loss is noticed, after sinks were told (the session
  // re-reconciles the map here).
  void on_loss(std::function<void()> fn) { loss_handler_ = std::move(fn); }

  // One ring-buffer record. Returns false if it could not be decoded.
  bool handle_raw(const void* data, std::size_t size);
  void handle(const Event& ev);
  // Feeds the kernel's cumulative loss count; returns true if it grew.
  bool update_lost(std::uint64_t total);

  const PumpCounters& counters() const { return counters_; }
  QueueMap& map() { return map_; }

 private:
  QueueMap& map_;
  std::vector<EventSink*> sinks_;
  std::function<void()> loss_handler_;
  PumpCounters counters_;
};

}  // namespace gp
