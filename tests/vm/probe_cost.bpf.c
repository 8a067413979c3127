// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The yardstick of the probe-cost benchmark: kprobe and kretprobe programs
 * that do nothing. What the kernel spends running them (bpf_stats) is the
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
