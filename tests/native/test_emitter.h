// The native tier's event source: tests/native/emit.bpf.c, a uprobe on
// gp_test_emit_batch() (defined in ringbuf_pipeline_test.cpp, the one uprobe
// target of gp_native_tests) that copies ready-made struct gp_event records
// into the real ring buffer. Shared by the pipeline and the metrics tests.
#pragma once

#include <unistd.h>

#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>

#include "bpf/events.h"
#include "bpf/gp_test_emit.skel.h"

extern "C" void gp_test_emit_batch(const gp_event* evs, std::uint32_t n);

namespace gp::test {

struct EmitterDeleter {
  void operator()(gp_test_emit* s) const { gp_test_emit__destroy(s); }
};

class Emitter {
 public:
  explicit Emitter(std::uint32_t ringbuf_bytes) {
    if (geteuid() != 0)
      ADD_FAILURE() << "the native BPF tier needs root (CAP_BPF, CAP_PERFMON): run scripts/test.sh as root";
    skel_.reset(gp_test_emit__open());
    if (!skel_) return;
    bpf_map__set_max_entries(skel_->maps.gp_events, ringbuf_bytes);
    if (gp_test_emit__load(skel_.get()) != 0) {
      ADD_FAILURE() << "cannot load the test BPF object: " << std::strerror(errno);
      skel_.reset();
      return;
    }
    LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = "gp_test_emit_batch");
    link_ = bpf_program__attach_uprobe_opts(skel_->progs.gp_test_emit_batch, 0, "/proc/self/exe", 0, &uo);
    if (!link_) {
      ADD_FAILURE() << "cannot attach the uprobe: " << std::strerror(errno);
      skel_.reset();
    }
  }
  ~Emitter() { bpf_link__destroy(link_); }
  bool ok() const { return skel_ != nullptr; }
  int events_fd() const { return bpf_map__fd(skel_->maps.gp_events); }
  int lost_fd() const { return bpf_map__fd(skel_->maps.gp_lost); }

 private:
  std::unique_ptr<gp_test_emit, EmitterDeleter> skel_;
  bpf_link* link_ = nullptr;
};

}  // namespace gp::test
