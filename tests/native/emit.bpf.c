// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test emitter for the native tier: a uprobe on gp_test_emit_batch() in the
 * test binary copies an array of ready-made struct gp_event into the real
 * ring buffer (same maps and reserve path as the KFD probes), stamping each
 * with the BPF clock. One uprobe hit emits a whole batch, so the consumer can
 * be driven far past what one uprobe per event would allow.
 */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define GP_TEST_MAX_BATCH 65536

struct emit_ctx {
	const struct gp_event *evs;
	__u32 n;
};

static long emit_one(__u32 i, struct emit_ctx *c)
{
	struct gp_event *e;

	if (i >= c->n)
		return 1;
	e = bpf_ringbuf_reserve(&gp_events, sizeof(*e), 0);
	if (!e) {
		gp_count_lost(GP_LOST_RINGBUF);
		return 0;
	}
	if (bpf_probe_read_user(e, sizeof(*e), &c->evs[i])) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(gp_test_emit_batch, const struct gp_event *evs, __u32 n)
{
	struct emit_ctx c = { .evs = evs, .n = n };

	bpf_loop(n > GP_TEST_MAX_BATCH ? GP_TEST_MAX_BATCH : n, emit_one, &c, 0);
	return 0;
}
