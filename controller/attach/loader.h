// The probes of one tracing session on the running kernel, from plan to
// attached links: which KFD functions resolve (kallsyms, read once), which
// mechanism each gets (fexit through amdgpu's BTF where trampolines work,
// else kprobes), the CO-RE loads of the lifecycle and latency objects, and
// their attachment, falling back to kprobes for everything when a trampoline
// does not attach. Destroying the loader detaches every probe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "attach/phase_clock.h"
#include "attach/probe_status.h"

namespace gp {

struct LoaderOptions {
  std::string btf_path;                    // --btf FILE: custom BTF covering vmlinux + amdgpu
  bool verbose = false;                    // show libbpf's own output
  std::uint32_t ringbuf_bytes = 8u << 20;  // power of two, >= page size
  bool latency_probes = true;              // the preemption span programs (optional ones)
  bool kprobe_only = false;                // --kprobe-only: no fentry/fexit even where they work
  bool all_ioctls = false;                 // --ioctls: every /dev/kfd ioctl (kfd_ioctl), part of the lifecycle set
};

class ProbeLoader {
 public:
  // Throws UserError (nothing left attached) when a required probe cannot be
  // resolved, loaded or attached. Records its phases on clock.
  ProbeLoader(const LoaderOptions& opts, const std::string& kernel, PhaseClock& clock);
  ~ProbeLoader();
  ProbeLoader(const ProbeLoader&) = delete;
  ProbeLoader& operator=(const ProbeLoader&) = delete;

  const AttachReport& report() const;
  AttachReport& report();
  int events_fd() const;  // the ring buffer every loaded object writes to
  int lost_fd() const;    // its per-CPU loss counters (gp_lost)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gp
