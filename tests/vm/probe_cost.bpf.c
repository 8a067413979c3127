// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The yardstick of the probe-cost benchmark: kprobe and kretprobe programs
 * (and a fexit program) that do nothing. What the kernel spends running them (bpf_stats) is the
 * floor any program on the same function pays; gpreempt-bpf's own programs
 * are compared with it in the same VM run (TCG inflates absolute times).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

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
