/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every gpreempt-bpf BPF object shares: the ring buffer, per-CPU loss
 * counters, the entry->return stash, and the readers that turn a kernel
 * struct queue into the version-free struct gp_queue_info.
 *
 * Each object declares these maps; the loader makes later objects reuse the
 * first object's fds, so all events share one ordered ring buffer.
 */
#ifndef GPREEMPT_BPF_COMMON_H
#define GPREEMPT_BPF_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "events.h"
#include "kfd_types.bpf.h"

#define GP_STASH_ENTRIES 16384

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the loader (--ringbuf-kb) */
} gp_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GP_LOST_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} gp_lost SEC(".maps");

/* Entry arguments kept until the matching return, per (thread, function). */
struct gp_stash_key {
	__u32 tid;
	__u32 fn;
};

struct gp_stash_val {
	__u64 ptr;
	__u64 aux;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GP_STASH_ENTRIES);
	__type(key, struct gp_stash_key);
	__type(value, struct gp_stash_val);
} gp_stash SEC(".maps");

static __always_inline void gp_count_lost(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&gp_lost, &slot);

	if (n)
		*n += 1;
}

/* Reserves and zeroes one event with the common header filled in; NULL (and
 * counted as lost) when the ring buffer is full. Zeroing matters: ring-buffer
 * memory is not cleared and padding must not leak stale kernel bytes. */
static __always_inline struct gp_event *gp_reserve(__u32 kind)
{
	struct gp_event *e = bpf_ringbuf_reserve(&gp_events, sizeof(*e), 0);
	__u64 id;

	if (!e) {
		gp_count_lost(GP_LOST_RINGBUF);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	id = bpf_get_current_pid_tgid();
	e->ts_ns = bpf_ktime_get_ns();
	e->kind = kind;
	e->tid = (__u32)id;
	e->acting_tgid = id >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

static __always_inline void gp_submit(struct gp_event *e)
{
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void gp_stash_put(__u32 fn, __u64 ptr, __u64 aux)
{
	struct gp_stash_key k = { .tid = (__u32)bpf_get_current_pid_tgid(), .fn = fn };
	struct gp_stash_val v = { .ptr = ptr, .aux = aux };

	bpf_map_update_elem(&gp_stash, &k, &v, BPF_ANY);
}

/* Returns false when the entry was not seen (probe attached mid-call, or the
 * stash was full); such returns are counted, never guessed. */
static __always_inline bool gp_stash_take(__u32 fn, struct gp_stash_val *out)
{
	struct gp_stash_key k = { .tid = (__u32)bpf_get_current_pid_tgid(), .fn = fn };
	struct gp_stash_val *v = bpf_map_lookup_elem(&gp_stash, &k);

	if (!v) {
		gp_count_lost(GP_LOST_STASH);
		return false;
	}
	*out = *v;
	bpf_map_delete_elem(&gp_stash, &k);
	return true;
}

/* ---- version-dependent reads, each guarded by a CO-RE existence check ---- */

static __always_inline __u32 gp_process_tgid(struct kfd_process___gp *p)
{
	if (!p)
		return 0;
	return BPF_CORE_READ(p, lead_thread, tgid);
}

static __always_inline __u16 gp_process_context_id(struct kfd_process___gp *p)
{
	if (p && bpf_core_field_exists(p->context_id))
		return BPF_CORE_READ(p, context_id);
	return GP_CONTEXT_PRIMARY;
}

/* Writes p's context into *ctx and flags the record when it is a secondary
 * context (7.x): its tgid is the primary's, its kfd_process and qids are not. */
static __always_inline void gp_process_context(struct gp_event *e, __u16 *ctx, struct kfd_process___gp *p)
{
	*ctx = gp_process_context_id(p);
	if (*ctx != GP_CONTEXT_PRIMARY)
		e->ev_flags |= GP_EVF_SECONDARY;
}

/* pasid lives in kfd_process up to 6.1x; 7.x moved it to each pdd (we do not
 * chase it there: sysfs and the debug API use pid + qid). */
static __always_inline bool gp_process_pasid(struct kfd_process___gp *p, __u32 *pasid)
{
	if (p && bpf_core_field_exists(p->pasid)) {
		*pasid = BPF_CORE_READ(p, pasid);
		return true;
	}
	return false;
}

static __always_inline __u32 gp_device_gpu_id(void *dev)
{
	if (!dev)
		return 0;
	if (bpf_core_type_exists(struct kfd_node___gp)) {
		struct kfd_node___gp *node = dev;

		return BPF_CORE_READ(node, id);
	}
	if (bpf_core_field_exists(struct kfd_dev___gp, id)) {
		struct kfd_dev___gp *kdev = dev;

		return BPF_CORE_READ(kdev, id);
	}
	return 0;
}

/* The kernel's enum kfd_queue_type numbering moved between versions (DIQ
 * removed, SDMA_BY_ENG_ID added): compare against relocated enumerators. */
static __always_inline __u8 gp_queue_type(int t)
{
	if (t == bpf_core_enum_value(enum kfd_queue_type___gp, KFD_QUEUE_TYPE_COMPUTE___gp))
		return GP_QTYPE_COMPUTE;
	if (t == bpf_core_enum_value(enum kfd_queue_type___gp, KFD_QUEUE_TYPE_SDMA___gp))
		return GP_QTYPE_SDMA;
	if (t == bpf_core_enum_value(enum kfd_queue_type___gp, KFD_QUEUE_TYPE_HIQ___gp))
		return GP_QTYPE_HIQ;
	if (bpf_core_enum_value_exists(enum kfd_queue_type___gp, KFD_QUEUE_TYPE_SDMA_XGMI___gp) &&
	    t == bpf_core_enum_value(enum kfd_queue_type___gp, KFD_QUEUE_TYPE_SDMA_XGMI___gp))
		return GP_QTYPE_SDMA_XGMI;
	if (bpf_core_enum_value_exists(enum kfd_queue_type___gp, KFD_QUEUE_TYPE_DIQ___gp) &&
	    t == bpf_core_enum_value(enum kfd_queue_type___gp, KFD_QUEUE_TYPE_DIQ___gp))
		return GP_QTYPE_DIQ;
	if (bpf_core_enum_value_exists(enum kfd_queue_type___gp, KFD_QUEUE_TYPE_SDMA_BY_ENG_ID___gp) &&
	    t == bpf_core_enum_value(enum kfd_queue_type___gp, KFD_QUEUE_TYPE_SDMA_BY_ENG_ID___gp))
		return GP_QTYPE_SDMA_BY_ENG_ID;
	return GP_QTYPE_UNKNOWN;
}

static __always_inline __u8 gp_queue_flags(struct queue___gp *q)
{
	struct queue_properties___gp *pr = &q->properties;
	__u8 f = 0;

	if (BPF_CORE_READ(pr, is_active))
		f |= GP_QF_ACTIVE;
	if (BPF_CORE_READ(pr, is_evicted))
		f |= GP_QF_EVICTED;
	if (BPF_CORE_READ(pr, is_gws))
		f |= GP_QF_GWS;
	if (bpf_core_field_exists(pr->is_suspended) && BPF_CORE_READ(pr, is_suspended))
		f |= GP_QF_SUSPENDED;
	if (bpf_core_field_exists(pr->is_being_destroyed) && BPF_CORE_READ(pr, is_being_destroyed))
		f |= GP_QF_BEING_DESTROYED;
	if (bpf_core_field_exists(pr->is_reset) && BPF_CORE_READ(pr, is_reset))
		f |= GP_QF_RESET;
	if (bpf_core_field_exists(pr->is_dbg_wa) && BPF_CORE_READ(pr, is_dbg_wa))
		f |= GP_QF_DBG_WA;
	/* EC_QUEUE_NEW = exception code 31 -> bit 30 */
	if (bpf_core_field_exists(pr->exception_status) &&
	    (BPF_CORE_READ(pr, exception_status) & (1ULL << 30)))
		f |= GP_QF_NEW_PENDING;
	return f;
}

/* Fills the queue payload and the owner from q. Owner is always
 * q->process->lead_thread->tgid: current is a kworker at exit (<= 6.18) and
 * for eviction work. */
static __always_inline void gp_fill_queue(struct gp_event *e, struct queue___gp *q)
{
	struct queue_properties___gp *pr = &q->properties;
	struct kfd_process___gp *p = BPF_CORE_READ(q, process);
	struct gp_queue_info *qi = &e->q;
	__u32 percent = BPF_CORE_READ(pr, queue_percent);
	__u32 priority = BPF_CORE_READ(pr, priority);

	e->ev_flags |= GP_EVF_HAS_QUEUE;
	e->tgid = gp_process_tgid(p);
	qi->queue_kptr = (__u64)q;
	qi->proc_kptr = (__u64)p;
	qi->qid = BPF_CORE_READ(pr, queue_id);
	qi->gpu_id = gp_device_gpu_id(BPF_CORE_READ(q, device));
	qi->type = gp_queue_type(BPF_CORE_READ(pr, type));
	qi->format = BPF_CORE_READ(pr, format) == 1 ? GP_QFMT_AQL : GP_QFMT_PM4;
	qi->priority = priority > 15 ? 15 : priority;
	/* queue_percent keeps only the low byte (bits 8-15 are pm4_target_xcc) */
	qi->percent = (percent & 0xff) > 100 ? 100 : (percent & 0xff);
	qi->ring_addr = BPF_CORE_READ(pr, queue_address);
	qi->ring_size = BPF_CORE_READ(pr, queue_size);
	qi->rptr_addr = (__u64)BPF_CORE_READ(pr, read_ptr);
	qi->wptr_addr = (__u64)BPF_CORE_READ(pr, write_ptr);
	qi->doorbell_off = BPF_CORE_READ(pr, doorbell_off);
	qi->ctx_save_addr = BPF_CORE_READ(pr, ctx_save_restore_area_address);
	qi->ctx_save_size = BPF_CORE_READ(pr, ctx_save_restore_area_size);
	qi->sdma_engine = BPF_CORE_READ(pr, sdma_engine_id);
	qi->context_id = gp_process_context_id(p);
	qi->flags = gp_queue_flags(q);
	if (qi->context_id != GP_CONTEXT_PRIMARY)
		e->ev_flags |= GP_EVF_SECONDARY;
}

static __always_inline void gp_emit_queue(__u32 kind, struct queue___gp *q, __u32 cause, int ret,
					  __u32 aux)
{
	struct gp_event *e;

	if (!q)
		return;
	e = gp_reserve(kind);
	if (!e)
		return;
	e->cause = cause;
	e->ret = ret;
	e->aux = aux;
	gp_fill_queue(e, q);
	gp_submit(e);
}

#endif /* GPREEMPT_BPF_COMMON_H */
