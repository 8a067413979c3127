/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Shared between bpf/doorbell.bpf.c and controller/attach/doorbell_probe.cpp:
 * the doorbell uprobe's per-process slots (global data the loader reads
 * through the skeleton's mmap, no system call) and its wake-up record.
 *
 * ROCm facts relied on (ROCR-Runtime, runtime/hsa-runtime/inc/amd_hsa_signal.h
 * and core/inc/signal.h): an hsa_signal_t's handle is the address of an
 * amd_signal_t (64 bytes, 64-aligned) in the process; its first field is the
 * 64-bit kind, AMD_SIGNAL_KIND_DOORBELL (-1) or _LEGACY_DOORBELL (-2) for a
 * queue's doorbell signal, AMD_SIGNAL_KIND_USER (1) for completion and
 * barrier signals; for doorbell kinds, queue_ptr at +48 is the queue's
 * amd_queue_t. ROCclr rings an AQL queue's doorbell with
 * hsa_signal_store_screlease(queue->doorbell_signal, index) after writing the
 * packet (rocvirtual.cpp, dispatchGenericAqlPacket).
 */
#ifndef GPREEMPT_BPF_DOORBELL_H
#define GPREEMPT_BPF_DOORBELL_H

#include "events.h"

#define GP_DOORBELL_SLOTS 64          /* online processes watched at once */
#define GP_AMD_SIGNAL_KIND_USER 1
#define GP_AMD_SIGNAL_KIND_DOORBELL (-1)
#define GP_AMD_SIGNAL_KIND_LEGACY_DOORBELL (-2)
#define GP_AMD_SIGNAL_QUEUE_PTR_OFFSET 48

/* One online process. Written by BPF on every doorbell store of that process;
 * user space only reads (a torn read of last_ns is harmless: it only has to
 * differ from the previous value). */
struct gp_doorbell_slot {
	gp_u64 last_ns;     /* bpf_ktime_get_ns (CLOCK_MONOTONIC) of the last doorbell */
	gp_u64 doorbells;   /* doorbell stores seen */
	gp_u64 other;       /* stores to signals of other kinds (filtered out) */
	gp_u64 last_queue;  /* amd_queue_t address of the last doorbell */
	gp_u64 last_value;  /* the value stored (the write index) */
	gp_u64 last_cpu;    /* the CPU the last doorbell was stored on */
	/* Stores trapped while the uprobes were being taken out (runs of links
	 * of an older generation, see gp_uprobe_gen in doorbell.bpf.c): counted
	 * here, not as doorbells or other stores. One store runs every such link
	 * still attached, so with two removals pending this counts it twice. */
	gp_u64 stale;
	gp_u64 pad[1];      /* one cache line per slot */
};

/* Sent (with a wake-up) only while user space has armed the probe: the first
 * doorbell after arming wakes the controller, later ones just update slots. */
struct gp_doorbell_event {
	gp_u64 ts_ns;
	gp_u64 queue;
	gp_u64 value;
	gp_u32 tgid;
	gp_u32 slot;
	gp_u32 cpu;  /* the CPU of the store: where the ring buffer's wake-up starts */
	gp_u32 pad;
};

#endif
