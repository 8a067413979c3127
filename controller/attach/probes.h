// Which KFD function feeds which BPF program (docs/kfd-internals.md §1, §3).
#pragma once

#include <span>
#include <string>
#include <unordered_set>

#include "attach/kallsyms.h"
#include "attach/probe_status.h"

namespace gp {

// The exact-map set: queue add/remove/state, ioctl requests, process lifetime.
std::span<const ProbeSpec> lifecycle_probes();
// The preemption-span set (T0..T4, remap, MES, cause stack): all optional.
std::span<const ProbeSpec> latency_probes();
// Every /dev/kfd ioctl at its dispatcher (watch --ioctls): planned only when asked for.
std::span<const ProbeSpec> ioctl_probes();

// Every symbol name any probe set needs (for the kallsyms scan).
std::unordered_set<std::string> probe_symbols();

// Resolves the lifecycle set against kallsyms; nothing is loaded or attached.
// A clone is accepted only for timing-only probes.
AttachReport plan_lifecycle_attach(const Kallsyms& ks, const std::string& kernel);
AttachReport plan_latency_attach(const Kallsyms& ks, const std::string& kernel);
AttachReport plan_ioctl_attach(const Kallsyms& ks, const std::string& kernel);

}  // namespace gp
