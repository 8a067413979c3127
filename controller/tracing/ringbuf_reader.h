// Owns a libbpf ring_buffer on the events map and a reader of the per-CPU
// loss counters; feeds an EventPump.
#pragma once

#include <cstdint>

#include "tracing/event_pump.h"

struct ring_buffer;

namespace gp {

class RingbufReader {
 public:
  // events_fd: BPF_MAP_TYPE_RINGBUF; lost_fd: the per-CPU "gp_lost" array (or -1).
  RingbufReader(int events_fd, int lost_fd, EventPump& pump);
  ~RingbufReader();
  RingbufReader(const RingbufReader&) = delete;
  RingbufReader& operator=(const RingbufReader&) = delete;

  // Waits up to timeout_ms for data, consumes everything available, then
  // checks the loss counters. Returns records consumed (or -errno).
  int poll(int timeout_ms);
  int consume();                 // no waiting
  int epoll_fd() const;
  std::uint64_t read_lost() const;  // ring-buffer reservation failures, summed over CPUs
  std::uint64_t read_lost_slot(std::uint32_t slot) const;

 private:
  static int on_record(void* ctx, void* data, std::size_t size);
  ring_buffer* rb_ = nullptr;
  int lost_fd_ = -1;
  EventPump& pump_;
  int ncpus_ = 1;
};

}  // namespace gp
