// What receives the decoded event stream: the map first, then every sink.
#pragma once

#include <cstdint>

#include "trace/event.h"
#include "tracing/queue_map.h"

namespace gp {

// Receives every decoded event after the map has applied it.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(const Event& ev, MapChange change, const QueueMap& map) = 0;
  // Called when the kernel side reports newly lost events (before the map
  // re-reconciles). total = lost events since the session started.
  virtual void on_loss(std::uint64_t total) { (void)total; }
};

}  // namespace gp
