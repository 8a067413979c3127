// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * preempt --online-pid, event-driven: uprobes on libhsa-runtime64's
 * hsa_signal_store_screlease / _relaxed in the online processes (attached per
 * process, so the offline job sharing the library never traps). A store to a
 * doorbell signal is a GPU submission; stores to completion signals are
 * filtered out by the signal's kind. See doorbell.h for the layout facts.
 *
 * Cost to the online process: one uprobe trap per signal store (measured in
 * tests/bench/online_detect_bench.cpp). No cost when nobody submits, and none
 * while every offline target is suspended: the controller then takes the
 * uprobes out (DoorbellProbe::remove_uprobes), an early return here would
 * still cost the trap.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "doorbell.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} gp_doorbell_rb SEC(".maps");

/* tgid -> slot; only these processes count (the attach is per process too,
 * this also keeps a stale link of a recycled pid from counting). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GP_DOORBELL_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} gp_online_slot SEC(".maps");

struct gp_doorbell_slot gp_slots[GP_DOORBELL_SLOTS];
/* Set by user space when it wants to be woken by the next doorbell (the
 * offline job is running); cleared here by the store that wakes it. A race
 * between two CPUs costs one extra record, never a missed one. */
volatile __u32 gp_armed;
/* The generation of the uprobe links (DoorbellProbe::remove_uprobes and
 * insert_uprobes each add one): even while they are in, odd while they are
 * out. Each link carries the generation it was made in as its BPF cookie.
 * Destroying a link takes the kernel tens of ms and is not waited for, so
 * links of an older generation can still run, beside the current ones after
 * an insertion: only the current generation's count, and an older one's
 * only count as "stale" while none is in. */
volatile __u64 gp_uprobe_gen;

static __always_inline int on_store(void *ctx, __u64 handle, __s64 value)
{
	__u64 gen = gp_uprobe_gen;
	int current = bpf_get_attach_cookie(ctx) == gen;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct gp_doorbell_slot *s;
	struct gp_doorbell_event *e;
	__u32 *slot;
	__s64 kind;
	__u64 queue = 0, now;
	__u32 cpu;

	slot = bpf_map_lookup_elem(&gp_online_slot, &tgid);
	if (!slot || *slot >= GP_DOORBELL_SLOTS)
		return 0;
	s = &gp_slots[*slot];
	if (!current) {
		if (gen & 1)
			__sync_fetch_and_add(&s->stale, 1);
		return 0;
	}
	if (bpf_probe_read_user(&kind, sizeof(kind), (void *)handle))
		return 0;
	if (kind != GP_AMD_SIGNAL_KIND_DOORBELL && kind != GP_AMD_SIGNAL_KIND_LEGACY_DOORBELL) {
		__sync_fetch_and_add(&s->other, 1);
		return 0;
	}
	bpf_probe_read_user(&queue, sizeof(queue), (void *)(handle + GP_AMD_SIGNAL_QUEUE_PTR_OFFSET));
	now = bpf_ktime_get_ns();
	cpu = bpf_get_smp_processor_id();
	s->last_queue = queue;
	s->last_cpu = cpu;
	s->last_value = value;
	s->last_ns = now;
	__sync_fetch_and_add(&s->doorbells, 1);
	if (!gp_armed)
		return 0;
	gp_armed = 0;
	e = bpf_ringbuf_reserve(&gp_doorbell_rb, sizeof(*e), 0);
	if (!e)
		return 0; /* the slot still shows it: the next poll sees it */
	e->ts_ns = now;
	e->queue = queue;
	e->value = value;
	e->tgid = tgid;
	e->slot = *slot;
	e->cpu = cpu;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* void hsa_signal_store_screlease(hsa_signal_t signal, hsa_signal_value_t value)
 * and hsa_signal_store_relaxed, of the same signature: hsa_signal_t is a
 * struct of one uint64_t, passed in the first register. One program for
 * both: a uprobe_multi link (DoorbellProbe) attaches it at both offsets. */
SEC("uprobe")
int BPF_KPROBE(gp_doorbell_store, __u64 handle, __s64 value)
{
	return on_store(ctx, handle, value);
}
