#include "tracing/event_pump.h"

namespace gp {

bool EventPump::handle_raw(const void* data, std::size_t size) {
  auto r = decode(data, size);
  if (!r.event) {
    ++counters_.decode_errors;
    return false;
  }
  handle(*r.event);
  return true;
}

void EventPump::handle(const Event& ev) {
  ++counters_.events;
  const MapChange change = map_.apply(ev);
  for (EventSink* s : sinks_) s->on_event(ev, change, map_);
}

bool EventPump::update_lost(std::uint64_t total) {
  if (total <= counters_.lost) return false;
  counters_.lost = total;
  for (EventSink* s : sinks_) s->on_loss(total);
  if (loss_handler_) loss_handler_();
  return true;
}

}  // namespace gp
