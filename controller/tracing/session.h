// A tracing session: preflight checks, load the BPF programs, attach them,
// reconcile the queue map with what already exists, then pump ring-buffer
// events into the map and to every sink. Destroying the session detaches
// every probe (RAII), so no exit path leaves anything attached.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attach/probe_status.h"
#include "trace/event.h"
#include "tracing/event_sink.h"
#include "tracing/queue_map.h"

namespace gp {

struct SessionOptions {
  std::string instance;                  // lock name: one session per command ("watch", "preempt", ...)
  std::string btf_path;                  // --btf FILE: custom BTF covering vmlinux + amdgpu
  bool verbose = false;                  // show libbpf's own output
  std::uint32_t ringbuf_bytes = 8u << 20;  // power of two, >= page size
  bool reconcile = true;                 // read sysfs at start so pre-existing queues are mapped
  bool latency_probes = true;            // the preemption span programs (optional ones)
  bool kprobe_only = false;              // --kprobe-only: no fentry/fexit even where they work
  bool all_ioctls = false;               // watch --ioctls: every /dev/kfd ioctl (kfd_ioctl events)
};

class Session {
 public:
  // Throws UserError (clear message, nothing left attached) when the host
  // cannot run it: not root, no amdgpu, no BTF, a required symbol missing...
  explicit Session(const SessionOptions& opts);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const AttachReport& attach_report() const;
  QueueMap& map();
  const QueueMap& map() const;
  void add_sink(EventSink* sink);

  // Consumes what is on the ring buffer (waiting up to timeout_ms for the
  // first record). Returns the number of events handled.
  int poll(int timeout_ms);
  // An fd that becomes readable when records are available (for own loops).
  int ready_fd() const;

  std::uint64_t events() const;
  std::uint64_t lost() const;            // ring-buffer reservation failures, all CPUs
  std::uint64_t decode_errors() const;
  void reconcile();                      // re-read sysfs (also done after a loss)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gp
