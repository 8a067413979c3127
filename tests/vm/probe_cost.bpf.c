// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The yardstick of the probe-cost benchmark: kprobe and kretprobe programs
 * (and a fexit program) that do nothing. What the kernel spends running them (bpf_stats) is the
 * floor any program on the same function pays; gpreempt-bpf's own programs
 * are compared with it in the same VM run (TCG inflates absolute times).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("kprobe")
int gp_empty_kprobe(void *ctx)
{
	return 0;
}

SEC("kretprobe")
int gp_empty_kretprobe(void *ctx)
{
	return 0;
}

/* The same floor for the trampoline mechanism (target set at run time). */
SEC("fexit")
int gp_empty_fexit(void *ctx)
{
	return 0;
}

/* The floor of emitting anything: an empty fexit that reserves one record of
 * our event's size, zeroes it, stamps pid and time, and submits it. The
 * difference between this and our own program is what our programs add
 * (probe reads, decoding the arguments); the difference between this and
 * gp_empty_fexit is what any tracer pays for a ring-buffer record. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} gp_cost_events SEC(".maps");

const volatile bool no_wakeup = false;

SEC("fexit")
int gp_event_fexit(void *ctx)
{
	struct gp_event *e = bpf_ringbuf_reserve(&gp_cost_events, sizeof(*e), 0);

	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_ringbuf_submit(e, no_wakeup ? BPF_RB_NO_WAKEUP : 0);
	return 0;
}
