// Uprobes as one BPF_TRACE_UPROBE_MULTI link (Linux 6.10 and later) instead
// of one perf event per function. What it buys the doorbell probe: closing
// such a link takes the breakpoints out first and only then waits for the
// grace period, while closing a perf-event uprobe link waits for an RCU
// tasks-trace grace period with the breakpoint still in (and, under the
// tracing event_mutex, for a second one after it: the next link's breakpoint
// waits for both). Measured in docs/performance.md.
//
// By the raw bpf(2) command: Debian 12's libbpf 1.1 predates
// bpf_program__attach_uprobe_multi (libbpf 1.3).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>

namespace gp {

// enum bpf_attach_type's BPF_TRACE_UPROBE_MULTI (uapi linux/bpf.h of 6.6+;
// the host's headers may be older).
inline constexpr int kBpfTraceUprobeMulti = 48;

// Whether a uprobe_multi link limited to a process runs its program for
// every thread of it: from 6.10 on. 6.6-6.9 ran it only for the one thread
// whose pid was given (uprobe_prog_run compared current with link->task; it
// compares thread groups since), so a runtime storing its doorbells on a
// worker thread would trap and never be heard.
bool uprobe_multi_filters_by_process(const std::string& kernel_release);

// Whether this kernel makes uprobe_multi links we can use: one that knows the
// attach type refuses a link on "/" with EBADF (one that does not: EINVAL),
// and its release is one of uprobe_multi_filters_by_process's. Probed once
// per process.
bool uprobe_multi_supported();

// Attaches prog_fd (loaded with expected_attach_type kBpfTraceUprobeMulti)
// at each file offset of path, in pid's address space only, each with its
// BPF cookie. The link's fd, or -errno.
int uprobe_multi_attach(int prog_fd, const std::string& path, std::span<const std::uint64_t> offsets,
                        std::span<const std::uint64_t> cookies, pid_t pid);

}  // namespace gp
