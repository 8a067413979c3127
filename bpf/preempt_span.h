/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Preemption span assembly (docs/kfd-internals.md §3) and the per-thread cause
 * stack, as plain functions on plain structs: the BPF program runs them on
 * per-thread map values, and the unit tests run the very same code in user
 * space (tests/unit/preempt_span_test.cpp). No BPF helpers in here.
 * The same holds for the victim set (the runlist record) and the sequence
 * numbers that join victims to their preemption.
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

/* A frame that names the cause only when it is not called from `outer`:
 * debug_lock_and_unmap is the address-watch cause on its own, but inside
 * debug_refresh_runlist the refresh stays the cause. The push happens either
 * way (a copy of the outer frame), so every pop still matches its push. */
static inline void gp_cause_push_unless_in(struct gp_cause_stack *s, const struct gp_cause_frame *fr, gp_u32 outer)
{
	gp_u32 n = s->depth;

	if (n > 0 && n <= GP_CAUSE_DEPTH && s->f[(n - 1) & (GP_CAUSE_DEPTH - 1)].cause == outer) {
		struct gp_cause_frame copy = s->f[(n - 1) & (GP_CAUSE_DEPTH - 1)];

		gp_cause_push(s, &copy);
		return;
	}
	gp_cause_push(s, fr);
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

/* ------------------------------------------------------------- sequence */

/* Links every GP_EV_PREEMPT_VICTIM to its GP_EV_PREEMPT: the CPU in the high
 * 32 bits and a per-CPU counter below, so no atomics are needed and no two CPUs
 * share a value (the kernels allow up to 8192, docs/kfd-internals.md §3). The
 * counter skips 0 so that no preemption has seq 0 ("none"). */
static inline gp_u64 gp_seq_make(gp_u32 cpu, gp_u32 counter)
{
	return ((gp_u64)cpu << 32) | counter;
}

static inline gp_u32 gp_seq_next_counter(gp_u32 counter)
{
	counter++;
	return counter ? counter : 1;
}

/* ------------------------------------------------------------- runlist */

#define GP_RUNLIST_MAX 512            /* queues one record lists; power of two */
#define GP_UNMAP_FILTER_BY_PASID 3    /* enum kfd_unmap_queues_filter, the same in every kernel */

/*
 * The victim set (docs/latency.md, "Victims"): an UNMAP_QUEUES packet
 * preempts the queues of the runlist the firmware was last given, so that is
 * what is recorded, at pm_send_runlist entry (dqm lock held), with the
 * kernel's own rule: every queue on a listed qpd with is_active set
 * (pm_create_runlist_ib). A cause's flag flips between that upload and its
 * unmap do not change it. One record per device queue manager, keyed by
 * &dqm->queues.
 */
struct gp_runlist {
	gp_u32 valid;                     /* from the upload until the next unmap returns */
	gp_u32 n;                         /* queues in the runlist (may exceed GP_RUNLIST_MAX) */
	gp_u64 q[GP_RUNLIST_MAX];         /* struct queue * */
	gp_u32 pasid[GP_RUNLIST_MAX];     /* its process's pasid on this device (BY_PASID filter) */
};

static inline void gp_runlist_begin(struct gp_runlist *rl)
{
	rl->valid = 1;
	rl->n = 0;
}

/* One queue of the upload's walk; kept as pm_create_runlist_ib keeps it. */
static inline void gp_runlist_add(struct gp_runlist *rl, gp_u64 q, gp_u32 pasid, int is_active)
{
	gp_u32 i = rl->n;

	if (!is_active)
		return;
	if (i < GP_RUNLIST_MAX) {
		rl->q[i & (GP_RUNLIST_MAX - 1)] = q;
		rl->pasid[i & (GP_RUNLIST_MAX - 1)] = pasid;
	}
	rl->n = i + 1;
}

/* Any unmap return ends the record: 0 means active_runlist = false (nothing
 * is mapped until the next upload); an error leaves the runlist in an unknown
 * state (hang, a GPU reset follows). So does a scheduler start. */
static inline void gp_runlist_forget(struct gp_runlist *rl)
{
	rl->valid = 0;
}

/* ------------------------------------------------------------- span */

#define GP_SPAN_RESETS 8  /* hung-queue resets one span records; power of two */

struct gp_span {
	gp_u64 t0, t1, t2, t3, t4;
	gp_u64 map_begin, map_end;
	gp_u64 seq;
	gp_u64 runlist;    /* HWS: &dqm->queues, the key of its runlist record */
	gp_u64 reset_addr[GP_SPAN_RESETS]; /* ring addresses an HQD reset returned */
	gp_u32 nresets;
	gp_u32 gpu_id;
	gp_u32 filter;
	gp_u32 filter_param;
	gp_u32 grace;
	gp_s32 fence_ret;
	gp_s32 ret;
	gp_u32 victims;
	gp_u32 flags;      /* GP_PF_* */
	gp_u32 doorbell;   /* MES: the queue's doorbell offset */
	gp_u8 active;      /* between T0 and T4 */
	gp_u8 pending;     /* finished, waiting for the remap (or a flush) */
	gp_u8 reset;
	gp_u8 mes;         /* MES span: one firmware call, a total only */
	gp_u8 mes_add;     /* MES: a map (add_hw_queue, resume all), not a preemption */
	gp_u8 exact_resets;/* the kernel's own per-queue reset function was seen */
	gp_u8 pad[2];
	struct gp_cause_frame cause;
};

static inline void gp_span_begin(struct gp_span *sp, gp_u64 now, gp_u32 gpu_id, gp_u32 filter,
				 gp_u32 grace, gp_u8 reset, gp_u64 seq)
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

/* MES: one firmware call on one queue (doorbell), or on all of them. */
static inline void gp_span_begin_mes(struct gp_span *sp, gp_u64 now, gp_u32 gpu_id, gp_u32 doorbell,
				     gp_u8 add, gp_u32 flags, gp_u64 seq)
{
	gp_span_begin(sp, now, gpu_id, 0, 0xffffffffu, 0, seq);
	sp->mes = 1;
	sp->mes_add = add;
	sp->doorbell = doorbell;
	sp->flags = flags;
}

static inline void gp_span_send_entry(struct gp_span *sp, gp_u64 now)
{
	if (sp->active)
		sp->t1 = now;
}

/*
 * T1, the packet goes out: its victims are the runlist record of the device
 * (NULL or not valid: uploaded before the probes attached, or the last unmap
 * failed). Returns how many record entries to visit; the caller lists those
 * for which gp_span_victim_hit() holds, then calls gp_span_victims_done()
 * with that count. Called once per span (one packet per unmap).
 */
static inline gp_u32 gp_span_victims_begin(struct gp_span *sp, const struct gp_runlist *rl)
{
	if (!sp->active || !sp->t1 || sp->mes)
		return 0;
	if (!rl || !rl->valid) {
		sp->flags |= GP_PF_VICTIMS_UNKNOWN;
		return 0;
	}
	if (rl->n > GP_RUNLIST_MAX) {
		sp->flags |= GP_PF_VICTIMS_TRUNCATED;
		return GP_RUNLIST_MAX;
	}
	return rl->n;
}

/* KFD_UNMAP_QUEUES_FILTER_BY_PASID preempts one process's queues; ALL and
 * DYNAMIC preempt every user queue of the runlist. */
static inline int gp_span_victim_hit(const struct gp_span *sp, const struct gp_runlist *rl, gp_u32 i)
{
	if (sp->filter == GP_UNMAP_FILTER_BY_PASID)
		return rl->pasid[i & (GP_RUNLIST_MAX - 1)] == sp->filter_param;
	return 1;
}

/* `listed` victims were emitted; past the record's capacity only an
 * unfiltered unmap can still count the rest. */
static inline void gp_span_victims_done(struct gp_span *sp, const struct gp_runlist *rl, gp_u32 listed)
{
	sp->victims = listed;
	if (rl && rl->valid && rl->n > GP_RUNLIST_MAX && sp->filter != GP_UNMAP_FILTER_BY_PASID)
		sp->victims = rl->n;
}

/*
 * Hung-queue reset inside the unmap (docs/kfd-internals.md §5). Where the
 * kernel's per-queue function is inlined, the HQD reset's return value (the
 * reset queue's ring address; the kernel compares it with
 * q->properties.queue_address before marking q reset) is recorded, and at T4
 * the first queue with that address is re-read.
 */
static inline void gp_span_hqd_reset(struct gp_span *sp, gp_u64 ring_addr)
{
	gp_u32 i = sp->nresets;

	if (!sp->active || !ring_addr)
		return;
	sp->flags |= GP_PF_QUEUE_RESET;
	if (i < GP_SPAN_RESETS)
		sp->reset_addr[i & (GP_SPAN_RESETS - 1)] = ring_addr;
	sp->nresets = i + 1;
}

/* The kernel's own per-queue reset function reported the queue exactly. */
static inline void gp_span_queue_reset(struct gp_span *sp)
{
	if (!sp->active)
		return;
	sp->flags |= GP_PF_QUEUE_RESET;
	sp->exact_resets = 1;
}

/* At T4: does the queue with this ring address need re-reading? `matched`
 * has one bit per recorded address: the kernel resets the first queue in
 * dqm->queues order with that address (find_queue_by_address), so each
 * address matches once. Past the capacity every queue is re-read. */
static inline int gp_span_reset_match(const struct gp_span *sp, gp_u64 ring_addr, gp_u32 *matched)
{
	gp_u32 i;

	if (sp->exact_resets || !sp->nresets)
		return 0;
	if (sp->nresets > GP_SPAN_RESETS)
		return 1;
	for (i = 0; i < GP_SPAN_RESETS; i++) {
		if (i >= sp->nresets)
			break;
		if (sp->reset_addr[i] == ring_addr && !(*matched & (1u << i))) {
			*matched |= 1u << i;
			return 1;
		}
	}
	return 0;
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
	if (sp->mes && sp->cause.cause == GP_CAUSE_GFX_USERQ)
		sp->flags |= GP_PF_NOT_KFD;
}

static inline int gp_span_waits_for_remap(const struct gp_span *sp, const struct gp_cause_stack *cs)
{
	/* A failed unmap is not followed by a map; nor is a halt, a stop, a
	 * reset by pasid, or an address-watch unmap (its map runs after the
	 * frame returned, in debug_map_and_unlock). */
	return sp->pending && cs->depth > 0 && sp->ret == 0 && sp->cause.cause != GP_CAUSE_HALT &&
	       sp->cause.cause != GP_CAUSE_STOP && sp->cause.cause != GP_CAUSE_RESET &&
	       sp->cause.cause != GP_CAUSE_DBG_WATCH;
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
	p->flags = sp->flags;
	p->cause_tgid = sp->cause.tgid;
	p->cause_qid = sp->cause.qid;
	p->trigger = sp->cause.trigger;
	p->packet_sent = sp->mes ? 1 : sp->t1 != 0;
	p->reset = sp->reset;
	p->mes = sp->mes;
	p->mes_add = sp->mes_add;
	p->doorbell_off = sp->doorbell;
	if (sp->mes)
		p->filter = 0;
}

#endif /* GPREEMPT_BPF_PREEMPT_SPAN_H */
