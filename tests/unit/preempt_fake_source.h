// An EventSource without BPF: tests queue events, pump() applies them to the
// map and hands them to the controller, like the live session does.
#pragma once

#include <mutex>
#include <vector>

#include "preempt/controller.h"

namespace gp::test {

class FakeSource : public EventSource {
 public:
  explicit FakeSource(EventSink* sink = nullptr) : sink_(sink) {}
  void set_sink(EventSink* s) { sink_ = s; }
  void push(const Event& ev) {
    std::lock_guard lk(mu_);
    pending_.push_back(ev);
  }
  int ready_fd() const override { return -1; }
  void pump() override {
    std::vector<Event> evs;
    {
      std::lock_guard lk(mu_);
      evs.swap(pending_);
    }
    for (auto& ev : evs) {
      auto change = map_.apply(ev);
      if (sink_) sink_->on_event(ev, change, map_);
    }
  }
  const QueueMap& map() const override { return map_; }

 private:
  EventSink* sink_;
  QueueMap map_;
  std::mutex mu_;
  std::vector<Event> pending_;
};

}  // namespace gp::test
