#include "tracing/ringbuf_reader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "base/error.h"
#include "bpf/events.h"
#include "tracing/percpu_sum.h"

namespace gp {

RingbufReader::RingbufReader(int events_fd, int lost_fd, EventPump& pump)
    : lost_fd_(lost_fd), pump_(pump) {
  rb_ = ring_buffer__new(events_fd, &RingbufReader::on_record, this, nullptr);
  if (!rb_)
    throw UserError(fmt::format("cannot open the BPF ring buffer: {}", std::strerror(errno)));
  int n = libbpf_num_possible_cpus();
  ncpus_ = n > 0 ? n : 1;
}

RingbufReader::~RingbufReader() { ring_buffer__free(rb_); }

int RingbufReader::on_record(void* ctx, void* data, std::size_t size) {
  static_cast<RingbufReader*>(ctx)->pump_.handle_raw(data, size);
  return 0;
}

int RingbufReader::poll(int timeout_ms) {
  int n = ring_buffer__poll(rb_, timeout_ms);
  if (n == -EINTR) n = 0;
  pump_.update_lost(read_lost());
  return n;
}

int RingbufReader::consume() {
  int n = ring_buffer__consume(rb_);
  pump_.update_lost(read_lost());
  return n;
}

int RingbufReader::epoll_fd() const { return ring_buffer__epoll_fd(rb_); }

std::uint64_t RingbufReader::read_lost_slot(std::uint32_t slot) const {
  return lost_fd_ < 0 ? 0 : sum_percpu_slot(lost_fd_, slot, ncpus_);
}

std::uint64_t RingbufReader::read_lost() const { return read_lost_slot(GP_LOST_RINGBUF); }

}  // namespace gp
