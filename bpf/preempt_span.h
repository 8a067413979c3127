/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Preemption span assembly (docs/kfd-internals.md §3) and the per-thread cause
 * stack, as plain functions on plain structs: the BPF program runs them on
 * per-thread map values, and the unit tests run the very same code in user
 * space (tests/unit/preempt_span_test.cpp). No BPF helpers in here.
 *
 *   T0 unmap_queues_cpsch entry      T1 pm_send_unmap_queue entry
 *   T2 pm_send_unmap_queue return    T3 amdkfd_fence_wait_timeout return
 *   T4 unmap_queues_cpsch return     + remap: map_queues_cpsch entry..return
 */
#ifndef GPREEMPT_BPF_PREEMPT_SPAN_H
#define GPREEMPT_BPF_PREEMPT_SPAN_H

#include "events.h"

#define GP_CAUSE_DEPTH 4 /* power of two: indexes are masked for the verifier */
#define GP_NO_QID 0xffffffffu
#define GP_NO_TRIGGER 0xffffffffu

struct gp_cause_frame {
	gp_u32 cause;   /* enum gp_cause */
	gp_u32 tgid;    /* process the cause acts on */
	gp_u32 qid;     /* queue it acts on, GP_NO_QID for process/device-wide causes */
	gp_u32 trigger; /* eviction trigger, GP_NO_TRIGGER if none */
};

/* Calls nest (kfd_process_evict_queues -> evict_process_queues_cpsch ->
 * execute -> unmap), so this is a stack; depth keeps counting past the
 * capacity so every pop still matches its push. */
struct gp_cause_stack {
	gp_u32 depth;
	gp_u32 pad;
	struct gp_cause_frame f[GP_CAUSE_DEPTH];
};

static inline void gp_cause_push(struct gp_cause_stack *s, const struct gp_cause_frame *fr)
{
	gp_u32 i = s->depth;

	if (i < GP_CAUSE_DEPTH)
		s->f[i & (GP_CAUSE_DEPTH - 1)] = *fr;
	s->depth = i + 1;
}

static inline void gp_cause_pop(struct gp_cause_stack *s)
{
	if (s->depth)
		s->depth--;
}

/* The innermost recorded frame decides the cause and its object; an eviction
 * trigger set by an outer frame (kfd_process_evict_queues) is carried in. */
static inline struct gp_cause_frame gp_cause_current(const struct gp_cause_stack *s)
{
	struct gp_cause_frame out = { GP_CAUSE_NONE, 0, GP_NO_QID, GP_NO_TRIGGER };
	gp_u32 n = s->depth < GP_CAUSE_DEPTH ? s->depth : GP_CAUSE_DEPTH;
	gp_u32 i;

	for (i = 0; i < GP_CAUSE_DEPTH; i++) {
		if (i >= n)
			break;
		if (s->f[i].trigger != GP_NO_TRIGGER)
			out.trigger = s->f[i].trigger;
		out.cause = s->f[i].cause;
		out.tgid = s->f[i].tgid;
		out.qid = s->f[i].qid;
	}
	return out;
}

struct gp_span {
	gp_u64 t0, t1, t2, t3, t4;
	gp_u64 map_begin, map_end;
	gp_u32 gpu_id;
	gp_u32 filter;
	gp_u32 grace;
	gp_s32 fence_ret;
	gp_s32 ret;
	gp_u32 seq;
	gp_u32 victims;
	gp_u8 active;   /* between T0 and T4 */
	gp_u8 pending;  /* finished, waiting for the remap (or a flush) */
	gp_u8 reset;
	gp_u8 pad;
	struct gp_cause_frame cause;
};

static inline void gp_span_begin(struct gp_span *sp, gp_u64 now, gp_u32 gpu_id, gp_u32 filter,
				 gp_u32 grace, gp_u8 reset, gp_u32 seq)
{
	__builtin_memset(sp, 0, sizeof(*sp));
	sp->t0 = now;
	sp->gpu_id = gpu_id;
	sp->filter = filter;
	sp->grace = grace;
	sp->reset = reset;
	sp->seq = seq;
	sp->active = 1;
}

static inline void gp_span_send_entry(struct gp_span *sp, gp_u64 now)
{
	if (sp->active)
		sp->t1 = now;
}

static inline void gp_span_send_return(struct gp_span *sp, gp_u64 now)
{
	if (sp->active && sp->t1)
		sp->t2 = now;
}

static inline void gp_span_fence_return(struct gp_span *sp, gp_u64 now, int ret)
{
	if (sp->active && sp->t2) {
		sp->t3 = now;
		sp->fence_ret = ret;
	}
}

/* T4. The span waits for its remap only if a cause frame will pop later to
 * flush it; a bare unmap (no known cause) is final at once. */
static inline void gp_span_end(struct gp_span *sp, gp_u64 now, int ret, const struct gp_cause_stack *cs)
{
	if (!sp->active)
		return;
	sp->t4 = now;
	sp->ret = ret;
	sp->active = 0;
	sp->pending = 1;
	sp->cause = gp_cause_current(cs);
}

static inline int gp_span_waits_for_remap(const struct gp_span *sp, const struct gp_cause_stack *cs)
{
	/* A failed unmap is not followed by a map; nor is a halt or stop. */
	return sp->pending && cs->depth > 0 && sp->ret == 0 && sp->cause.cause != GP_CAUSE_HALT &&
	       sp->cause.cause != GP_CAUSE_STOP;
}

static inline void gp_span_map_begin(struct gp_span *sp, gp_u64 now)
{
	if (sp->pending)
		sp->map_begin = now;
}

static inline void gp_span_map_end(struct gp_span *sp, gp_u64 now)
{
	if (sp->pending && sp->map_begin)
		sp->map_end = now;
}

static inline gp_u32 gp_span_offset(gp_u64 t, gp_u64 t0)
{
	gp_u64 d;

	if (!t || t < t0)
		return 0;
	d = t - t0;
	return d > 0xffffffffull ? 0xffffffffu : (gp_u32)d;
}

/* Fills the event payload; 0 offsets mark phases that did not happen. */
static inline void gp_span_to_preempt(const struct gp_span *sp, struct gp_preempt_info *p)
{
	p->t0_ns = sp->t0;
	p->send_entry_ns = gp_span_offset(sp->t1, sp->t0);
	p->send_return_ns = gp_span_offset(sp->t2, sp->t0);
	p->fence_return_ns = gp_span_offset(sp->t3, sp->t0);
	p->total_ns = gp_span_offset(sp->t4, sp->t0);
	p->end_ns = sp->t4;
	p->remap_ns = sp->map_end > sp->map_begin && sp->map_begin ? gp_span_offset(sp->map_end, sp->map_begin) : 0;
	p->gpu_id = sp->gpu_id;
	p->filter = sp->filter;
	p->grace = sp->grace;
	p->fence_ret = sp->fence_ret;
	p->victims = sp->victims;
	p->seq = sp->seq;
	p->cause_tgid = sp->cause.tgid;
	p->cause_qid = sp->cause.qid;
	p->trigger = sp->cause.trigger;
	p->packet_sent = sp->t1 != 0;
	p->reset = sp->reset;
}

#endif /* GPREEMPT_BPF_PREEMPT_SPAN_H */
