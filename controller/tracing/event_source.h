// The event stream as a loop that waits on it sees it: an fd to poll, a
// non-blocking pump, and the map the events keep. The live session provides
// it (cli/preempt.cpp); tests provide a fake without BPF.
#pragma once

#include "tracing/queue_map.h"

namespace gp {

class EventSource {
 public:
  virtual ~EventSource() = default;
  virtual int ready_fd() const = 0;  // readable when events wait; -1 if none
  virtual void pump() = 0;           // handle what is there, without blocking
  virtual const QueueMap& map() const = 0;
};

}  // namespace gp
