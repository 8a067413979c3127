// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * In-kernel preemption spans (docs/kfd-internals.md §3, docs/latency.md): one
 * GP_EV_PREEMPT per HWS unmap_queues_cpsch (T0..T4 + remap) or MES firmware
 * call (remove/add of one queue, suspend/resume of all), with the cause taken
 * from a per-thread stack that the outer KFD functions push and pop, and one
 * GP_EV_PREEMPT_VICTIM per queue the preemption hit.
 *
 * HWS victims are the runlist the firmware was last given: recorded at
 * pm_send_runlist (dqm lock held, the kernel's own is_active rule) and listed
 * when the UNMAP_QUEUES packet goes out (T1). Walking the queues at T0
 * instead would see the causing operation's flag flips (a created queue
 * already active, a destroyed one already inactive, ...), and would list
 * victims for unmaps that send nothing (docs/latency.md, "Victims").
 *
 * Also here, because only a span shows them: the kernel's hung-queue resets
 * (docs/kfd-internals.md §5) as GP_EV_QUEUE_STATE events with cause reset or
 * bad_queue, re-read under the dqm lock.
 *
 * Shares gp_events/gp_lost with gp_lifecycle (the loader reuses the fds).
 * Never attached to .constprop/.isra clones: execute_queues_cpsch is one on
 * 6.12/7.2 with another register ABI, so the span starts at unmap_queues_cpsch.
 */
#include "common.bpf.h"
#include "preempt_span.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader from amdgpu's BTF: 6.1's unmap_queues_cpsch has no
 * grace_period argument (dqm, filter, filter_param, reset); 6.12+ inserts it
 * before reset. */
const volatile bool unmap_has_grace = true;

struct device_queue_manager___gp {
	void *dev;                     /* kfd_dev * (6.1) / kfd_node * (6.12+) */
	struct list_head queues;       /* of struct device_process_node */
} __attribute__((preserve_access_index));

struct device_process_node___gp {
	struct qcm_process_device___gp *qpd;
	struct list_head list;
} __attribute__((preserve_access_index));

struct mes_remove_queue_input___gp {
	__u32 doorbell_offset;         /* offset 0 up to 6.12, 4 in 7.2 (xcc_id first) */
} __attribute__((preserve_access_index));

struct mes_add_queue_input___gp {
	__u32 doorbell_offset;
	__u32 is_kfd_process;          /* 1 only from KFD's add_queue_mes */
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);            /* tid */
	__type(value, struct gp_cause_stack);
} gp_causes SEC(".maps");

/* Per-thread spans: the HWS or single-queue MES span under the tid, a MES
 * suspend/resume-all span under tid | GP_ALL_KEY (7.2 nests a per-queue
 * remove inside a failed suspend-all). */
#define GP_ALL_KEY 0x80000000u
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct gp_span);
} gp_spans SEC(".maps");

/* The runlist last uploaded to each device queue manager (preempt_span.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u64);            /* &dqm->queues */
	__type(value, struct gp_runlist);
} gp_runlists SEC(".maps");

/* Never written: the zeroed value a new runlist record starts from (too big
 * for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gp_runlist);
} gp_runlist_zero SEC(".maps");

/* Per-CPU counter of gp_seq_make(). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} gp_seq SEC(".maps");

/* kfd_dqm_suspend_bad_queue_mes(node, pasid, doorbell_id) in progress, per tid. */
struct gp_bad_queue {
	__u32 pasid;
	__u32 doorbell_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct gp_bad_queue);
} gp_bad_queues SEC(".maps");

/* set_queue_as_reset(dqm, q, qpd) in progress: q, per tid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} gp_resetting SEC(".maps");

static __always_inline __u32 tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

static __always_inline __u64 next_seq(void)
{
	__u32 zero = 0, *v = bpf_map_lookup_elem(&gp_seq, &zero);

	if (!v)
		return 0;
	*v = gp_seq_next_counter(*v);
	return gp_seq_make(bpf_get_smp_processor_id(), *v);
}

static __always_inline struct gp_span *span_of(__u32 key)
{
	return bpf_map_lookup_elem(&gp_spans, &key);
}

static __always_inline struct gp_span *my_span(void)
{
	return span_of(tid());
}

/* ------------------------------------------------------------- cause stack */

static __always_inline struct gp_cause_stack *cause_stack(void)
{
	struct gp_cause_stack *s, zero = {};
	__u32 t = tid();

	s = bpf_map_lookup_elem(&gp_causes, &t);
	if (!s) {
		bpf_map_update_elem(&gp_causes, &t, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&gp_causes, &t);
	}
	return s;
}

static __always_inline void push_cause(__u32 cause, __u32 tgid, __u32 qid, __u32 trigger)
{
	struct gp_cause_frame fr = { .cause = cause, .tgid = tgid, .qid = qid, .trigger = trigger };
	struct gp_cause_stack *s = cause_stack();

	if (s)
		gp_cause_push(s, &fr);
}

static __always_inline struct gp_cause_frame current_frame(void)
{
	struct gp_cause_frame none = { GP_CAUSE_NONE, 0, GP_NO_QID, GP_NO_TRIGGER };
	__u32 t = tid();
	struct gp_cause_stack *s = bpf_map_lookup_elem(&gp_causes, &t);

	return s ? gp_cause_current(s) : none;
}

static __always_inline void emit_span(struct gp_span *sp)
{
	struct gp_event *e = gp_reserve(GP_EV_PREEMPT);

	if (!e)
		return;
	e->ts_ns = sp->t0;
	e->cause = sp->cause.cause;
	e->ret = sp->ret;
	e->tgid = sp->cause.tgid;
	e->seq = sp->seq;
	gp_span_to_preempt(sp, &e->pre);
	gp_submit(e);
}

/* Emits a finished span still waiting for its remap. */
static __always_inline void flush_span(__u32 t)
{
	struct gp_span *sp = span_of(t);

	if (sp && sp->pending) {
		emit_span(sp);
		sp->pending = 0;
	}
}

static __always_inline void pop_cause(void)
{
	__u32 t = tid();
	struct gp_cause_stack *s = bpf_map_lookup_elem(&gp_causes, &t);

	if (!s)
		return;
	gp_cause_pop(s);
	if (s->depth == 0) {
		flush_span(t);
		bpf_map_delete_elem(&gp_causes, &t);
	}
}

static __always_inline struct kfd_process_device___gp *qpd_pdd(struct qcm_process_device___gp *qpd)
{
	return (void *)qpd - bpf_core_field_offset(struct kfd_process_device___gp, qpd);
}

static __always_inline __u32 qpd_tgid(struct qcm_process_device___gp *qpd)
{
	return gp_process_tgid(BPF_CORE_READ(qpd_pdd(qpd), process));
}

/* The pasid an UNMAP_QUEUES by pasid names: per device in 7.x, per process before. */
static __always_inline __u32 qpd_pasid(struct qcm_process_device___gp *qpd)
{
	struct kfd_process_device___gp *pdd = qpd_pdd(qpd);
	__u32 pasid = 0;

	if (bpf_core_field_exists(pdd->pasid))
		return BPF_CORE_READ(pdd, pasid);
	gp_process_pasid(BPF_CORE_READ(pdd, process), &pasid);
	return pasid;
}

static __always_inline void push_queue_cause(__u32 cause, struct queue___gp *q)
{
	push_cause(cause, gp_process_tgid(BPF_CORE_READ(q, process)),
		   BPF_CORE_READ(q, properties.queue_id), GP_NO_TRIGGER);
}

#define GP_CAUSE_RET(name)                       \
	SEC("kretprobe")                         \
	int BPF_KRETPROBE(name##_ret)            \
	{                                        \
		pop_cause();                     \
		return 0;                        \
	}

SEC("kprobe")
int BPF_KPROBE(cause_create, void *dqm, struct queue___gp *q)
{
	push_queue_cause(GP_CAUSE_CREATE, q);
	return 0;
}
GP_CAUSE_RET(cause_create)

SEC("kprobe")
int BPF_KPROBE(cause_destroy, void *dqm, void *qpd, struct queue___gp *q)
{
	push_queue_cause(GP_CAUSE_DESTROY, q);
	return 0;
}
GP_CAUSE_RET(cause_destroy)

SEC("kprobe")
int BPF_KPROBE(cause_update, void *dqm, struct queue___gp *q)
{
	push_queue_cause(GP_CAUSE_UPDATE, q);
	return 0;
}
GP_CAUSE_RET(cause_update)

#define GP_QPD_CAUSE(name, cause)                                                     \
	SEC("kprobe")                                                                 \
	int BPF_KPROBE(name, void *dqm, struct qcm_process_device___gp *qpd)          \
	{                                                                             \
		push_cause(cause, qpd_tgid(qpd), GP_NO_QID, GP_NO_TRIGGER);           \
		return 0;                                                             \
	}                                                                             \
	GP_CAUSE_RET(name)

GP_QPD_CAUSE(cause_evict, GP_CAUSE_EVICT)
GP_QPD_CAUSE(cause_restore, GP_CAUSE_RESTORE)
GP_QPD_CAUSE(cause_terminate, GP_CAUSE_TERMINATE)
GP_QPD_CAUSE(cause_dbg_vmid_reserve, GP_CAUSE_DBG_VMID_RESERVE)
GP_QPD_CAUSE(cause_dbg_vmid_release, GP_CAUSE_DBG_VMID_RELEASE)

/* kfd_process_evict_queues(p, trigger): the process-wide wrapper knows why. */
SEC("kprobe")
int BPF_KPROBE(cause_evict_trigger, struct kfd_process___gp *p, __u32 trigger)
{
	push_cause(GP_CAUSE_EVICT, gp_process_tgid(p), GP_NO_QID, trigger);
	return 0;
}
GP_CAUSE_RET(cause_evict_trigger)

#define GP_PROC_CAUSE(name, cause)                                                    \
	SEC("kprobe")                                                                 \
	int BPF_KPROBE(name, struct kfd_process___gp *p)                              \
	{                                                                             \
		push_cause(cause, gp_process_tgid(p), GP_NO_QID, GP_NO_TRIGGER);      \
		return 0;                                                             \
	}                                                                             \
	GP_CAUSE_RET(name)

GP_PROC_CAUSE(cause_dbg_suspend, GP_CAUSE_DBG_SUSPEND)
GP_PROC_CAUSE(cause_dbg_resume, GP_CAUSE_DBG_RESUME)

/* Device-wide causes: no process, no queue. */
#define GP_DQM_CAUSE(name, cause)                                                     \
	SEC("kprobe")                                                                 \
	int BPF_KPROBE(name)                                                          \
	{                                                                             \
		push_cause(cause, 0, GP_NO_QID, GP_NO_TRIGGER);                       \
		return 0;                                                             \
	}                                                                             \
	GP_CAUSE_RET(name)

GP_DQM_CAUSE(cause_dbg_refresh, GP_CAUSE_DBG_REFRESH)
GP_DQM_CAUSE(cause_halt, GP_CAUSE_HALT)
GP_DQM_CAUSE(cause_unhalt, GP_CAUSE_UNHALT)
/* reset_queues_cpsch(dqm, pasid): the unmap carries the pasid (filter_param). */
GP_DQM_CAUSE(cause_reset, GP_CAUSE_RESET)
/* kfd_dqm_evict_pasid(dqm, pasid): on MES it suspends every queue around the
 * eviction, without the dqm lock (so no victim walk under it). Its frame is
 * the only eviction frame without a process (tgid 0). */
GP_DQM_CAUSE(cause_evict_pasid, GP_CAUSE_EVICT)
/* mes_userq_map/unmap(queue): amdgpu graphics user queues through the same
 * MES functions as KFD's. */
GP_DQM_CAUSE(cause_gfx_userq_map, GP_CAUSE_GFX_USERQ)
GP_DQM_CAUSE(cause_gfx_userq_unmap, GP_CAUSE_GFX_USERQ)

/* debug_lock_and_unmap(dqm): address-watch set/clear on its own; inside
 * debug_refresh_runlist, the refresh. */
SEC("kprobe")
int BPF_KPROBE(cause_dbg_watch)
{
	struct gp_cause_frame fr = { .cause = GP_CAUSE_DBG_WATCH, .qid = GP_NO_QID, .trigger = GP_NO_TRIGGER };
	struct gp_cause_stack *s = cause_stack();

	if (s)
		gp_cause_push_unless_in(s, &fr, GP_CAUSE_DBG_REFRESH);
	return 0;
}
GP_CAUSE_RET(cause_dbg_watch)

GP_DQM_CAUSE(cause_stop, GP_CAUSE_STOP)

/* start_cpsch(dqm) follows a stop or a GPU reset: the firmware holds no
 * runlist, whatever active_runlist still says after a failed unmap. (A stop
 * needs nothing: its own unmap ends the record.) */
SEC("kprobe")
int BPF_KPROBE(cause_start, struct device_queue_manager___gp *dqm)
{
	__u64 key = (__u64)&dqm->queues;
	struct gp_runlist *rl = bpf_map_lookup_elem(&gp_runlists, &key);

	if (rl)
		gp_runlist_forget(rl);
	push_cause(GP_CAUSE_START, 0, GP_NO_QID, GP_NO_TRIGGER);
	return 0;
}
GP_CAUSE_RET(cause_start)

/* kfd_dqm_suspend_bad_queue_mes(node, pasid, doorbell_id): which queue it
 * evicts is re-read at its resume_all_queues_mes (below). */
SEC("kprobe")
int BPF_KPROBE(cause_bad_queue, void *node, __u32 pasid, __u32 doorbell_id)
{
	struct gp_bad_queue bq = { .pasid = pasid, .doorbell_id = doorbell_id };
	__u32 t = tid();

	bpf_map_update_elem(&gp_bad_queues, &t, &bq, BPF_ANY);
	push_cause(GP_CAUSE_BAD_QUEUE, 0, GP_NO_QID, GP_NO_TRIGGER);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(cause_bad_queue_ret)
{
	__u32 t = tid();

	bpf_map_delete_elem(&gp_bad_queues, &t);
	pop_cause();
	return 0;
}

/* ------------------------------------------------------------- walks */

/* What one walk over dqm->queues (processes) x qpd->queues_list does with
 * each queue. The caller holds the dqm lock, which keeps both lists stable. */
enum gp_walk_mode {
	GP_WALK_RUNLIST,    /* pm_send_runlist: record the runlist */
	GP_WALK_VICTIMS,    /* MES suspend-all: list the active queues */
	GP_WALK_RESETS,     /* HWS T4: re-read the queues an HQD reset hit */
	GP_WALK_BAD_QUEUE,  /* MES resume-all after a bad queue: re-read it */
};

struct dqm_walk {
	struct list_head *procs_head;
	struct list_head *proc_pos;
	struct list_head *q_head;
	struct list_head *q_pos;
	struct gp_runlist *rl;
	struct gp_span *sp;
	__u64 dpn_off;
	__u64 queue_off;
	__u64 ts;
	__u64 seq;
	__u32 mode;
	__u32 pasid;        /* of the qpd being walked */
	__u32 count;
	__u32 matched;      /* GP_WALK_RESETS: addresses already matched */
	__u32 want_pasid;   /* GP_WALK_BAD_QUEUE */
	__u32 want_doorbell;
};

static __always_inline void walk_queue(struct dqm_walk *w, struct queue___gp *q)
{
	struct gp_event *e;

	switch (w->mode) {
	case GP_WALK_RUNLIST:
		if (w->rl)
			gp_runlist_add(w->rl, (__u64)q, w->pasid, BPF_CORE_READ(q, properties.is_active));
		return;
	case GP_WALK_VICTIMS:
		if (!BPF_CORE_READ(q, properties.is_active))
			return;
		w->count++;
		e = gp_reserve(GP_EV_PREEMPT_VICTIM);
		if (!e)
			return;
		e->ts_ns = w->ts;
		e->seq = w->seq;
		gp_fill_queue(e, q);
		gp_submit(e);
		return;
	case GP_WALK_RESETS:
		if (w->sp && gp_span_reset_match(w->sp, BPF_CORE_READ(q, properties.queue_address), &w->matched))
			gp_emit_queue(GP_EV_QUEUE_STATE, q, GP_CAUSE_RESET, 0, 0);
		return;
	case GP_WALK_BAD_QUEUE:
		if (w->pasid == w->want_pasid && BPF_CORE_READ(q, doorbell_id) == w->want_doorbell)
			gp_emit_queue(GP_EV_QUEUE_STATE, q, GP_CAUSE_BAD_QUEUE, 0, 0);
		return;
	}
}

static long dqm_walk_step(__u32 i, struct dqm_walk *w)
{
	/* Local copies: CO-RE must relocate list_head, never struct dqm_walk. */
	struct list_head *q_pos = w->q_pos, *proc_pos = w->proc_pos;

	if (!q_pos || q_pos == w->q_head) {
		struct device_process_node___gp *dpn;
		struct qcm_process_device___gp *qpd;

		proc_pos = BPF_CORE_READ(proc_pos, next);
		w->proc_pos = proc_pos;
		if (!proc_pos || proc_pos == w->procs_head)
			return 1;
		dpn = (void *)proc_pos - w->dpn_off;
		qpd = BPF_CORE_READ(dpn, qpd);
		if (!qpd) {
			w->q_pos = NULL;
			return 0;
		}
		w->q_head = &qpd->queues_list;
		w->q_pos = BPF_CORE_READ(qpd, queues_list.next);
		w->pasid = qpd_pasid(qpd);
		return 0;
	}
	w->q_pos = BPF_CORE_READ(q_pos, next);
	walk_queue(w, (void *)q_pos - w->queue_off);
	return 0;
}

static __always_inline void walk_dqm(struct dqm_walk *w, struct list_head *procs)
{
	w->procs_head = procs;
	w->proc_pos = procs;
	w->dpn_off = bpf_core_field_offset(struct device_process_node___gp, list);
	w->queue_off = bpf_core_field_offset(struct queue___gp, list);
	bpf_loop(4096, dqm_walk_step, w, 0);
}

/* ------------------------------------------------------------- runlist */

/* pm_send_runlist(pm, dqm_queues), called only from map_queues_cpsch with
 * the dqm lock held: the queues it is about to hand the firmware. */
SEC("kprobe")
int BPF_KPROBE(runlist_entry, void *pm, struct list_head *dqm_queues)
{
	__u64 key = (__u64)dqm_queues;
	struct gp_runlist *rl = bpf_map_lookup_elem(&gp_runlists, &key);
	struct dqm_walk w = { .mode = GP_WALK_RUNLIST };

	if (!rl) {
		__u32 zero = 0;
		struct gp_runlist *z = bpf_map_lookup_elem(&gp_runlist_zero, &zero);

		if (!z)
			return 0;
		bpf_map_update_elem(&gp_runlists, &key, z, BPF_NOEXIST);
		rl = bpf_map_lookup_elem(&gp_runlists, &key);
		if (!rl)
			return 0;
	}
	gp_runlist_begin(rl);
	w.rl = rl;
	walk_dqm(&w, dqm_queues);
	return 0;
}

/* ------------------------------------------------------------- HWS span */

SEC("kprobe")
int BPF_KPROBE(unmap_queues_entry, struct device_queue_manager___gp *dqm, __u32 filter,
	       __u32 filter_param, __u64 arg3, __u64 arg4)
{
	struct gp_span *sp, fresh = {};
	__u32 t = tid(), grace = 0xffffffffu;
	__u8 reset;

	if (unmap_has_grace) {
		grace = (__u32)arg3;
		reset = (__u8)arg4;
	} else {
		reset = (__u8)arg3;
	}
	flush_span(t); /* a previous span on this thread that never saw its remap */
	sp = span_of(t);
	if (!sp) {
		bpf_map_update_elem(&gp_spans, &t, &fresh, BPF_ANY);
		sp = span_of(t);
		if (!sp)
			return 0;
	}
	gp_span_begin(sp, bpf_ktime_get_ns(), gp_device_gpu_id(BPF_CORE_READ(dqm, dev)), filter, grace,
		      reset, next_seq());
	sp->filter_param = filter_param;
	sp->runlist = (__u64)&dqm->queues;
	return 0;
}

struct victim_list {
	struct gp_runlist *rl;
	struct gp_span *sp;
	__u64 ts;
	__u64 seq;
	__u32 listed;
};

static long victim_step(__u32 i, struct victim_list *v)
{
	struct gp_runlist *rl = v->rl;
	struct gp_event *e;

	if (!rl || !v->sp || !gp_span_victim_hit(v->sp, rl, i))
		return 0;
	v->listed++;
	e = gp_reserve(GP_EV_PREEMPT_VICTIM);
	if (!e)
		return 0;
	e->ts_ns = v->ts;
	e->seq = v->seq;
	gp_fill_queue(e, (void *)rl->q[i & (GP_RUNLIST_MAX - 1)]);
	gp_submit(e);
	return 0;
}

/* T1: the packet goes out; its victims are the recorded runlist. */
SEC("kprobe")
int BPF_KPROBE(send_unmap_entry)
{
	struct victim_list v = {};
	struct gp_runlist *rl;
	struct gp_span *sp = my_span();
	__u64 key;
	__u32 n;

	if (!sp || !sp->active)
		return 0;
	gp_span_send_entry(sp, bpf_ktime_get_ns());
	key = sp->runlist;
	rl = bpf_map_lookup_elem(&gp_runlists, &key);
	n = gp_span_victims_begin(sp, rl);
	if (n && rl) {
		v.rl = rl;
		v.sp = sp;
		v.ts = sp->t1;
		v.seq = sp->seq;
		bpf_loop(n, victim_step, &v, 0);
	}
	gp_span_victims_done(sp, rl, v.listed);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(send_unmap_return)
{
	struct gp_span *sp = my_span();

	if (sp)
		gp_span_send_return(sp, bpf_ktime_get_ns());
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(fence_wait_return, int ret)
{
	struct gp_span *sp = my_span();

	if (sp)
		gp_span_fence_return(sp, bpf_ktime_get_ns(), ret);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(unmap_queues_return, int ret)
{
	struct gp_cause_stack empty = {}, *cs;
	struct gp_span *sp = my_span();
	struct gp_runlist *rl;
	__u32 t = tid();
	__u64 key;

	if (!sp || !sp->active)
		return 0;
	key = sp->runlist;
	rl = bpf_map_lookup_elem(&gp_runlists, &key);
	if (rl)
		gp_runlist_forget(rl);
	/* The dqm lock is still held: re-read the queues an inlined hung-queue
	 * reset marked (the exact per-queue probe below reports them itself). */
	if (sp->nresets && !sp->exact_resets) {
		struct dqm_walk w = { .mode = GP_WALK_RESETS, .sp = sp };

		walk_dqm(&w, (void *)sp->runlist);
	}
	cs = bpf_map_lookup_elem(&gp_causes, &t);
	if (!cs)
		cs = &empty;
	gp_span_end(sp, bpf_ktime_get_ns(), ret, cs);
	if (!gp_span_waits_for_remap(sp, cs)) {
		emit_span(sp);
		sp->pending = 0;
	}
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(map_queues_entry)
{
	struct gp_span *sp = my_span();

	if (sp)
		gp_span_map_begin(sp, bpf_ktime_get_ns());
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(map_queues_return)
{
	struct gp_span *sp = my_span();

	if (sp && sp->pending) {
		gp_span_map_end(sp, bpf_ktime_get_ns());
		emit_span(sp);
		sp->pending = 0;
	}
	return 0;
}

/* ------------------------------------------------------------- resets */

/* kgd_gfx_v9_hqd_reset(...) returns the ring address of the queue it reset
 * (0: failed). Inside an unmap it is the kernel's per-queue reset of a hung
 * queue, inlined on 6.12, so this is where it shows. */
SEC("kretprobe")
int BPF_KRETPROBE(hqd_reset_return, __u64 ring_addr)
{
	struct gp_span *sp = my_span();

	if (sp)
		gp_span_hqd_reset(sp, ring_addr);
	return 0;
}

/* set_queue_as_reset(dqm, q, qpd) (7.2): the kernel marks q reset and
 * inactive; its flags are re-read at the return, dqm lock held. */
SEC("kprobe")
int BPF_KPROBE(queue_reset_entry, void *dqm, struct queue___gp *q)
{
	__u64 ptr = (__u64)q;
	__u32 t = tid();

	bpf_map_update_elem(&gp_resetting, &t, &ptr, BPF_ANY);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(queue_reset_return)
{
	__u32 t = tid(), all = t | GP_ALL_KEY;
	__u64 *ptr = bpf_map_lookup_elem(&gp_resetting, &t);
	struct gp_span *sp;

	if (!ptr)
		return 0;
	gp_emit_queue(GP_EV_QUEUE_STATE, (void *)*ptr, GP_CAUSE_RESET, 0, 0);
	bpf_map_delete_elem(&gp_resetting, &t);
	sp = span_of(t);
	if (sp)
		gp_span_queue_reset(sp);
	sp = span_of(all);
	if (sp)
		gp_span_queue_reset(sp);
	return 0;
}

/* ------------------------------------------------------------- MES span */
/* mes_v1x_y_{remove,add}_hw_queue(struct amdgpu_mes *, input): the firmware
 * preempts (or maps) exactly one queue, named by its doorbell. */

static __always_inline struct gp_span *mes_begin(__u32 key, __u32 gpu_id, __u32 doorbell, __u8 add, __u32 flags)
{
	struct gp_span fresh = {}, *sp;

	bpf_map_update_elem(&gp_spans, &key, &fresh, BPF_ANY);
	sp = span_of(key);
	if (!sp)
		return NULL;
	gp_span_begin_mes(sp, bpf_ktime_get_ns(), gpu_id, doorbell, add, flags, next_seq());
	return sp;
}

static __always_inline void mes_end(__u32 key, int ret)
{
	struct gp_cause_stack empty = {}, *cs;
	struct gp_span *sp = span_of(key);
	__u32 t = tid();

	if (!sp || !sp->active)
		return;
	cs = bpf_map_lookup_elem(&gp_causes, &t);
	if (!cs)
		cs = &empty;
	gp_span_end(sp, bpf_ktime_get_ns(), ret, cs);
	sp->pending = 0;
	emit_span(sp);
}

SEC("kprobe")
int BPF_KPROBE(mes_remove_entry, void *mes, struct mes_remove_queue_input___gp *in)
{
	mes_begin(tid(), 0, BPF_CORE_READ(in, doorbell_offset), 0, 0);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(mes_remove_return, int ret)
{
	mes_end(tid(), ret);
	return 0;
}

/* is_kfd_process is set only by KFD's add_queue_mes: amdgpu's graphics user
 * queues and its own MES self-test leave it 0. */
SEC("kprobe")
int BPF_KPROBE(mes_add_entry, void *mes, struct mes_add_queue_input___gp *in)
{
	__u32 flags = 0;

	if (bpf_core_field_exists(in->is_kfd_process) && !BPF_CORE_READ(in, is_kfd_process))
		flags |= GP_PF_NOT_KFD;
	mes_begin(tid(), 0, BPF_CORE_READ(in, doorbell_offset), 1, flags);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(mes_add_return, int ret)
{
	mes_end(tid(), ret);
	return 0;
}

/* suspend_all_queues_mes(dqm) / resume_all_queues_mes(dqm) (6.12, 7.2): one
 * MES call that suspends (resumes) every queue on the device, KFD's and
 * amdgpu's graphics user queues alike. The KFD victims are the queues active
 * at entry (MES maps exactly the active ones), listed when the dqm lock is
 * held: every caller but kfd_dqm_evict_pasid holds it. */
SEC("kprobe")
int BPF_KPROBE(mes_suspend_all_entry, struct device_queue_manager___gp *dqm)
{
	__u32 key = tid() | GP_ALL_KEY;
	struct gp_span *sp = mes_begin(key, gp_device_gpu_id(BPF_CORE_READ(dqm, dev)), 0, 0, GP_PF_ALL_QUEUES);
	struct dqm_walk w = { .mode = GP_WALK_VICTIMS };
	struct gp_cause_frame cause = current_frame();

	if (!sp)
		return 0;
	if (cause.cause == GP_CAUSE_EVICT && cause.tgid == 0) {
		/* called straight from kfd_dqm_evict_pasid: no dqm lock */
		sp->flags |= GP_PF_VICTIMS_UNKNOWN;
		return 0;
	}
	w.ts = sp->t0;
	w.seq = sp->seq;
	walk_dqm(&w, &dqm->queues);
	sp->victims = w.count;
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(mes_suspend_all_return, int ret)
{
	mes_end(tid() | GP_ALL_KEY, ret);
	return 0;
}

/* After kfd_dqm_suspend_bad_queue_mes evicted its queue (is_evicted, not
 * is_active), it resumes the others: the evicted queue is re-read here,
 * dqm lock held. */
SEC("kprobe")
int BPF_KPROBE(mes_resume_all_entry, struct device_queue_manager___gp *dqm)
{
	__u32 t = tid();
	struct gp_bad_queue *bq = bpf_map_lookup_elem(&gp_bad_queues, &t);

	mes_begin(t | GP_ALL_KEY, gp_device_gpu_id(BPF_CORE_READ(dqm, dev)), 0, 1, GP_PF_ALL_QUEUES);
	if (bq && current_frame().cause == GP_CAUSE_BAD_QUEUE) {
		struct dqm_walk w = { .mode = GP_WALK_BAD_QUEUE, .want_pasid = bq->pasid,
				      .want_doorbell = bq->doorbell_id };

		walk_dqm(&w, &dqm->queues);
	}
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(mes_resume_all_return, int ret)
{
	mes_end(tid() | GP_ALL_KEY, ret);
	return 0;
}
