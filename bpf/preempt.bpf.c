// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * In-kernel preemption spans (docs/kfd-internals.md §3): one GP_EV_PREEMPT per HWS
 * unmap_queues_cpsch (T0..T4 + remap) or MES remove/add_hw_queue, with the
 * cause taken from a per-thread stack that the outer KFD functions push and
 * pop, and one GP_EV_PREEMPT_VICTIM per queue that was mapped on that GPU at
 * T0 (HWS unmaps every dynamic queue of every process on the device).
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
	__u32 doorbell_offset;
} __attribute__((preserve_access_index));

struct mes_add_queue_input___gp {
	__u32 doorbell_offset;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);            /* tid */
	__type(value, struct gp_cause_stack);
} gp_causes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);            /* tid */
	__type(value, struct gp_span);
} gp_spans SEC(".maps");

/* Sequence numbers linking victims to their preemption: a per-CPU counter in
 * the low 24 bits, the CPU above, so no atomics are needed. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} gp_seq SEC(".maps");

static __always_inline __u32 tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

/* ------------------------------------------------------------- cause stack */

static __always_inline void push_cause(__u32 cause, __u32 tgid, __u32 qid, __u32 trigger)
{
	struct gp_cause_frame fr = { .cause = cause, .tgid = tgid, .qid = qid, .trigger = trigger };
	struct gp_cause_stack *s, zero = {};
	__u32 t = tid();

	s = bpf_map_lookup_elem(&gp_causes, &t);
	if (!s) {
		bpf_map_update_elem(&gp_causes, &t, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&gp_causes, &t);
		if (!s)
			return;
	}
	gp_cause_push(s, &fr);
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
	e->aux = sp->seq;
	gp_span_to_preempt(sp, &e->pre);
	gp_submit(e);
}

/* Emits a finished span still waiting for its remap. */
static __always_inline void flush_span(__u32 t)
{
	struct gp_span *sp = bpf_map_lookup_elem(&gp_spans, &t);

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

static __always_inline __u32 qpd_tgid(struct qcm_process_device___gp *qpd)
{
	struct kfd_process_device___gp *pdd =
		(void *)qpd - bpf_core_field_offset(struct kfd_process_device___gp, qpd);

	return gp_process_tgid(BPF_CORE_READ(pdd, process));
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
GP_DQM_CAUSE(cause_stop, GP_CAUSE_STOP)
GP_DQM_CAUSE(cause_start, GP_CAUSE_START)

/* ------------------------------------------------------------- HWS span */

struct victim_walk {
	struct list_head *procs_head;
	struct list_head *proc_pos;
	struct list_head *q_head;
	struct list_head *q_pos;
	__u64 dpn_off;
	__u64 queue_off;
	__u64 ts;
	__u32 seq;
	__u32 victims;
};

/* One flat loop over dqm->queues (processes) x qpd->queues_list (their
 * queues); the dqm lock held by the caller keeps both lists stable. */
static long victim_step(__u32 i, struct victim_walk *w)
{
	/* Local copies: CO-RE must relocate list_head, never struct victim_walk. */
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
		return 0;
	}
	{
		struct queue___gp *q = (void *)q_pos - w->queue_off;
		struct gp_event *e;

		w->q_pos = BPF_CORE_READ(q_pos, next);
		if (!BPF_CORE_READ(q, properties.is_active))
			return 0;
		w->victims++;
		e = gp_reserve(GP_EV_PREEMPT_VICTIM);
		if (!e)
			return 0;
		e->ts_ns = w->ts;
		e->aux = w->seq;
		gp_fill_queue(e, q);
		gp_submit(e);
	}
	return 0;
}

static __always_inline __u32 next_seq(void)
{
	__u32 zero = 0, *v = bpf_map_lookup_elem(&gp_seq, &zero);

	if (!v)
		return 0;
	*v = (*v + 1) & 0xffffff;
	return (bpf_get_smp_processor_id() << 24) | *v;
}

SEC("kprobe")
int BPF_KPROBE(unmap_queues_entry, struct device_queue_manager___gp *dqm, __u32 filter,
	       __u32 filter_param, __u64 arg3, __u64 arg4)
{
	struct gp_span *sp, fresh = {};
	struct victim_walk w = {};
	__u32 t = tid(), grace = 0xffffffffu;
	__u8 reset;

	if (unmap_has_grace) {
		grace = (__u32)arg3;
		reset = (__u8)arg4;
	} else {
		reset = (__u8)arg3;
	}
	flush_span(t); /* a previous span on this thread that never saw its remap */
	sp = bpf_map_lookup_elem(&gp_spans, &t);
	if (!sp) {
		bpf_map_update_elem(&gp_spans, &t, &fresh, BPF_ANY);
		sp = bpf_map_lookup_elem(&gp_spans, &t);
		if (!sp)
			return 0;
	}
	gp_span_begin(sp, bpf_ktime_get_ns(), gp_device_gpu_id(BPF_CORE_READ(dqm, dev)), filter, grace,
		      reset, next_seq());

	w.procs_head = &dqm->queues;
	w.proc_pos = &dqm->queues;
	w.dpn_off = bpf_core_field_offset(struct device_process_node___gp, list);
	w.queue_off = bpf_core_field_offset(struct queue___gp, list);
	w.ts = sp->t0;
	w.seq = sp->seq;
	bpf_loop(4096, victim_step, &w, 0);
	sp->victims = w.victims;
	return 0;
}

static __always_inline struct gp_span *my_span(void)
{
	__u32 t = tid();

	return bpf_map_lookup_elem(&gp_spans, &t);
}

SEC("kprobe")
int BPF_KPROBE(send_unmap_entry)
{
	struct gp_span *sp = my_span();

	if (sp)
		gp_span_send_entry(sp, bpf_ktime_get_ns());
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
	__u32 t = tid();

	if (!sp)
		return 0;
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

/* ------------------------------------------------------------- MES span */
/* mes_v1x_0_{remove,add}_hw_queue(struct amdgpu_mes *, input): the firmware
 * preempts (or maps) exactly one queue, named by its doorbell. */

static __always_inline void mes_begin(__u32 doorbell, __u8 add)
{
	struct gp_span fresh = {}, *sp;
	__u32 t = tid();

	bpf_map_update_elem(&gp_spans, &t, &fresh, BPF_ANY);
	sp = bpf_map_lookup_elem(&gp_spans, &t);
	if (!sp)
		return;
	gp_span_begin(sp, bpf_ktime_get_ns(), 0, 0, 0xffffffffu, 0, next_seq());
	sp->filter = doorbell; /* carried to the event below */
	sp->pad = add;
}

static __always_inline void mes_end(int ret)
{
	struct gp_cause_stack empty = {}, *cs;
	struct gp_span *sp = my_span();
	struct gp_event *e;
	__u32 t = tid();

	if (!sp || !sp->active)
		return;
	cs = bpf_map_lookup_elem(&gp_causes, &t);
	if (!cs)
		cs = &empty;
	gp_span_end(sp, bpf_ktime_get_ns(), ret, cs);
	sp->pending = 0;
	e = gp_reserve(GP_EV_PREEMPT);
	if (!e)
		return;
	e->ts_ns = sp->t0;
	e->cause = sp->cause.cause;
	e->ret = ret;
	e->tgid = sp->cause.tgid;
	e->aux = sp->seq;
	gp_span_to_preempt(sp, &e->pre);
	e->pre.filter = 0;
	e->pre.doorbell_off = sp->filter;
	e->pre.mes = 1;
	e->pre.mes_add = sp->pad;
	e->pre.packet_sent = 1;
	gp_submit(e);
}

SEC("kprobe")
int BPF_KPROBE(mes_remove_entry, void *mes, struct mes_remove_queue_input___gp *in)
{
	mes_begin(BPF_CORE_READ(in, doorbell_offset), 0);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(mes_remove_return, int ret)
{
	mes_end(ret);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(mes_add_entry, void *mes, struct mes_add_queue_input___gp *in)
{
	mes_begin(BPF_CORE_READ(in, doorbell_offset), 1);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(mes_add_return, int ret)
{
	mes_end(ret);
	return 0;
}
