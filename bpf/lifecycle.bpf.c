// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Queue lifecycle probes on KFD (docs/kfd-internals.md §1): the exact map is built
 * from queue_add / queue_remove / process_sweep, kept current by queue_state,
 * and made exact at start-up by queue_snapshot. The ioctl handlers add what
 * user space asked for and how it failed.
 *
 * Programs carry no attach target in SEC(): the loader resolves every symbol
 * from /proc/kallsyms once and attaches by name or, when a name is not unique
 * (update_queue also exists in ipc/sem.c), by address.
 *
 * A function whose return we report has two variants, and the loader loads
 * one of them (controller/attach/trampoline.h):
 *  - fexit (SEC("gp_fexit"), fentry where the entry emits too): arguments and
 *    return value in one program on a BPF trampoline, nothing stashed. The
 *    loader sets each program's target in amdgpu's own BTF object (a custom
 *    SEC handler), so update_queue is amdgpu's, never ipc/sem.c's.
 *  - kprobe + kretprobe with the arguments stashed per thread (gp_stash): the
 *    fallback for --btf (no amdgpu BTF object in the kernel), clones and
 *    address-only symbols, and kernels without BPF trampolines.
 * Both variants emit through the same __always_inline helpers below.
 */
#include "common.bpf.h"
#include "kfd_uapi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define GP_FEXIT SEC("gp_fexit")
#define GP_FENTRY SEC("gp_fentry")

/* A fexit program's return value, whatever the function's arity. */
static __always_inline long gp_fexit_ret(void *ctx)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret);
	return (long)ret;
}

/* Stash slots: one per function whose return needs its entry arguments. */
enum gp_fn {
	GP_FN_UPDATE_QUEUE = 1,
	GP_FN_EVICT,
	GP_FN_RESTORE,
	GP_FN_TERMINATE,
	GP_FN_DBG_SUSPEND,
	GP_FN_DBG_RESUME,
	GP_FN_PQM_UNINIT,
	GP_FN_IOCTL_CREATE,
	GP_FN_IOCTL_DESTROY,
	GP_FN_IOCTL_UPDATE,
	GP_FN_IOCTL_DBG_TRAP,
	GP_FN_KFD_IOCTL,
};

/* ---------------------------------------------------------------- add/remove */

SEC("kprobe")
int BPF_KPROBE(kfd_procfs_add_queue, struct queue___gp *q)
{
	gp_emit_queue(GP_EV_QUEUE_ADD, q, GP_CAUSE_CREATE, 0, 0);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(uninit_queue, struct queue___gp *q)
{
	struct gp_event *e;

	if (!q)
		return 0;
	/* Only the pointer is trusted here: kernel queues (HIQ/DIQ) and failed
	 * creates pass through too, and user space ignores pointers it never saw
	 * added. The owner is read for display. */
	e = gp_reserve(GP_EV_QUEUE_REMOVE);
	if (!e)
		return 0;
	gp_fill_queue(e, q);
	gp_submit(e);
	return 0;
}

/* Start-up reconciliation: user space reads one sysfs attribute of every
 * /sys/class/kfd/kfd/proc/<pid>/queues/<qid>/; the kobject is embedded in
 * struct queue, so the full queue is one container_of away. The sysfs active
 * reference keeps q alive during show. */
SEC("kprobe")
int BPF_KPROBE(kfd_procfs_queue_show, struct kobject *kobj)
{
	struct queue___gp *q;

	if (!kobj)
		return 0;
	q = (void *)kobj - bpf_core_field_offset(struct queue___gp, kobj);
	gp_emit_queue(GP_EV_QUEUE_SNAPSHOT, q, GP_CAUSE_NONE, 0, 0);
	return 0;
}

/* Sweep after the per-queue uninit_queue calls, so those still match. */
static __always_inline void gp_sweep_done(struct kfd_process___gp *p)
{
	struct gp_event *e = gp_reserve(GP_EV_PROCESS_SWEEP);

	if (!e)
		return;
	e->tgid = gp_process_tgid(p);
	e->proc.proc_kptr = (__u64)p;
	gp_process_context(e, &e->proc.context_id, p);
	gp_submit(e);
}

/* The kretprobe half of a kprobe pair (the fallback to fexit): take what the
 * entry stashed for this thread, then run the statement(s) given, which see
 * `st` and `ret`. Nothing stashed (entry missed, stash full): nothing to do. */
#define GP_STASH_RETURN(name, fn, ...)                                \
	SEC("kretprobe")                                              \
	int BPF_KRETPROBE(name##_return, int ret)                     \
	{                                                             \
		struct gp_stash_val st;                               \
		if (gp_stash_take(fn, &st))                           \
			__VA_ARGS__;                                  \
		return 0;                                             \
	}

SEC("kprobe")
int BPF_KPROBE(pqm_uninit_entry, struct process_queue_manager___gp *pqm)
{
	gp_stash_put(GP_FN_PQM_UNINIT, (__u64)BPF_CORE_READ(pqm, process), 0);
	return 0;
}

GP_STASH_RETURN(pqm_uninit, GP_FN_PQM_UNINIT, gp_sweep_done((void *)st.ptr))

/* pqm is embedded in its kfd_process and pqm_uninit leaves ->process alone. */
GP_FEXIT
int BPF_PROG(pqm_uninit_fexit, struct process_queue_manager___gp *pqm)
{
	gp_sweep_done(BPF_CORE_READ(pqm, process));
	return 0;
}

/* ------------------------------------------------------------- state changes */

SEC("kprobe")
int BPF_KPROBE(update_queue_entry, void *dqm, struct queue___gp *q)
{
	gp_stash_put(GP_FN_UPDATE_QUEUE, (__u64)q, 0);
	return 0;
}

GP_STASH_RETURN(update_queue, GP_FN_UPDATE_QUEUE,
		gp_emit_queue(GP_EV_QUEUE_STATE, (void *)st.ptr, GP_CAUSE_UPDATE, ret, 0))

GP_FEXIT
int BPF_PROG(update_queue_fexit, void *dqm, struct queue___gp *q)
{
	gp_emit_queue(GP_EV_QUEUE_STATE, q, GP_CAUSE_UPDATE, (int)gp_fexit_ret(ctx), 0);
	return 0;
}

/* Re-reads every queue on a list at the return of a state change. */
struct gp_walk {
	struct list_head *head;
	struct list_head *pos;
	__u64 node_off;   /* offset of the list_head inside the node */
	bool via_pqn;     /* pqm->queues holds process_queue_nodes, qpd->queues_list holds queues */
	__u32 cause;
	int ret;
	__u32 aux;
};

static long gp_walk_step(__u32 i, struct gp_walk *w)
{
	struct list_head *pos = w->pos; /* local copy: CO-RE must not relocate struct gp_walk */
	struct queue___gp *q;
	void *node;

	if (!pos || pos == w->head)
		return 1;
	node = (void *)pos - w->node_off;
	if (w->via_pqn)
		q = BPF_CORE_READ((struct process_queue_node___gp *)node, q); /* NULL for kernel queues */
	else
		q = node;
	gp_emit_queue(GP_EV_QUEUE_STATE, q, w->cause, w->ret, w->aux);
	w->pos = BPF_CORE_READ(pos, next);
	return 0;
}

static __always_inline void gp_walk_qpd(struct qcm_process_device___gp *qpd, __u32 cause, int ret)
{
	struct gp_walk w = {
		.head = &qpd->queues_list,
		.pos = BPF_CORE_READ(qpd, queues_list.next),
		.node_off = bpf_core_field_offset(struct queue___gp, list),
		.cause = cause,
		.ret = ret,
		.aux = BPF_CORE_READ(qpd, evicted),
	};

	bpf_loop(GP_MAX_QUEUE_WALK, gp_walk_step, &w, 0);
}

static __always_inline void gp_walk_process(struct kfd_process___gp *p, __u32 cause, int ret)
{
	struct gp_walk w = {
		.head = &p->pqm.queues,
		.pos = BPF_CORE_READ(p, pqm.queues.next),
		.node_off = bpf_core_field_offset(struct process_queue_node___gp, process_queue_list),
		.via_pqn = true,
		.cause = cause,
		.ret = ret,
	};

	bpf_loop(GP_MAX_QUEUE_WALK, gp_walk_step, &w, 0);
}

#define GP_QPD_STATE_PROBES(name, fn, cause)                          \
	SEC("kprobe")                                                 \
	int BPF_KPROBE(name##_entry, void *dqm, void *qpd)            \
	{                                                             \
		gp_stash_put(fn, (__u64)qpd, 0);                      \
		return 0;                                             \
	}                                                             \
	GP_STASH_RETURN(name, fn, gp_walk_qpd((void *)st.ptr, cause, ret))

/* A fexit program has one target: one per function. */
#define GP_QPD_STATE_FEXIT(fn, cause)                                 \
	GP_FEXIT                                                      \
	int BPF_PROG(fn##_fexit, void *dqm, void *qpd)                \
	{                                                             \
		gp_walk_qpd(qpd, cause, (int)gp_fexit_ret(ctx));      \
		return 0;                                             \
	}

/* One kprobe pair serves both the HWS (_cpsch) and NO_HWS (_nocpsch) variant. */
GP_QPD_STATE_PROBES(evict_process_queues, GP_FN_EVICT, GP_CAUSE_EVICT)
GP_QPD_STATE_PROBES(restore_process_queues, GP_FN_RESTORE, GP_CAUSE_RESTORE)
GP_QPD_STATE_FEXIT(evict_process_queues_cpsch, GP_CAUSE_EVICT)
GP_QPD_STATE_FEXIT(evict_process_queues_nocpsch, GP_CAUSE_EVICT)
GP_QPD_STATE_FEXIT(restore_process_queues_cpsch, GP_CAUSE_RESTORE)
GP_QPD_STATE_FEXIT(restore_process_queues_nocpsch, GP_CAUSE_RESTORE)

/* Debugger suspend/resume (6.12+). The caller holds the target's p->mutex, so
 * walking its pqm->queues is safe. */
SEC("kprobe")
int BPF_KPROBE(suspend_queues_entry, struct kfd_process___gp *p)
{
	gp_stash_put(GP_FN_DBG_SUSPEND, (__u64)p, 0);
	return 0;
}

GP_STASH_RETURN(suspend_queues, GP_FN_DBG_SUSPEND,
		gp_walk_process((void *)st.ptr, GP_CAUSE_DBG_SUSPEND, ret))

GP_FEXIT
int BPF_PROG(suspend_queues_fexit, struct kfd_process___gp *p)
{
	gp_walk_process(p, GP_CAUSE_DBG_SUSPEND, (int)gp_fexit_ret(ctx));
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(resume_queues_entry, struct kfd_process___gp *p)
{
	gp_stash_put(GP_FN_DBG_RESUME, (__u64)p, 0);
	return 0;
}

GP_STASH_RETURN(resume_queues, GP_FN_DBG_RESUME,
		gp_walk_process((void *)st.ptr, GP_CAUSE_DBG_RESUME, ret))

GP_FEXIT
int BPF_PROG(resume_queues_fexit, struct kfd_process___gp *p)
{
	gp_walk_process(p, GP_CAUSE_DBG_RESUME, (int)gp_fexit_ret(ctx));
	return 0;
}

/* process_termination_* unlinks every queue from qpd->queues_list before it
 * returns, so the per-queue walk is replaced by one per-(process, GPU) event;
 * the queues themselves leave through uninit_queue / pqm_uninit. It also
 * counts qpd->queue_count down to 0, so the count is read at entry and
 * stashed by either variant (fentry or kprobe): one event per process exit. */
static __always_inline void gp_terminate_begin(struct qcm_process_device___gp *qpd)
{
	gp_stash_put(GP_FN_TERMINATE, (__u64)qpd, BPF_CORE_READ(qpd, queue_count));
}

static __always_inline void gp_terminate_done(int ret)
{
	struct kfd_process_device___gp *pdd;
	struct kfd_process___gp *p;
	struct gp_stash_val st;
	struct gp_event *e;

	if (!gp_stash_take(GP_FN_TERMINATE, &st))
		return;
	pdd = (void *)st.ptr - bpf_core_field_offset(struct kfd_process_device___gp, qpd);
	p = BPF_CORE_READ(pdd, process);
	e = gp_reserve(GP_EV_QPD_TERMINATE);
	if (!e)
		return;
	e->cause = GP_CAUSE_TERMINATE;
	e->ret = ret;
	e->tgid = gp_process_tgid(p);
	e->proc.proc_kptr = (__u64)p;
	e->proc.gpu_id = gp_device_gpu_id(BPF_CORE_READ(pdd, dev));
	e->proc.queue_count = st.aux;
	gp_process_context(e, &e->proc.context_id, p);
	gp_submit(e);
}

SEC("kprobe")
int BPF_KPROBE(process_termination_entry, void *dqm, struct qcm_process_device___gp *qpd)
{
	gp_terminate_begin(qpd);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(process_termination_return, int ret)
{
	gp_terminate_done(ret);
	return 0;
}

#define GP_TERMINATE_TRAMPOLINES(fn)                                  \
	GP_FENTRY                                                     \
	int BPF_PROG(fn##_fentry, void *dqm, struct qcm_process_device___gp *qpd) \
	{                                                             \
		gp_terminate_begin(qpd);                              \
		return 0;                                             \
	}                                                             \
	GP_FEXIT                                                      \
	int BPF_PROG(fn##_fexit)                                      \
	{                                                             \
		gp_terminate_done((int)gp_fexit_ret(ctx));            \
		return 0;                                             \
	}

GP_TERMINATE_TRAMPOLINES(process_termination_cpsch)
GP_TERMINATE_TRAMPOLINES(process_termination_nocpsch)

/* ------------------------------------------------------------ ioctl handlers */
/* kfd_ioctl_*(struct file *, struct kfd_process *p, void *data): data is the
 * kernel copy of the uapi args, alive until the handler returns. Each *_done
 * helper emits the return-side event for both variants. */

/* What every ioctl event starts with: the handler's args read into `args`,
 * a record of `kind` reserved, the caller's tgid and the return filled in.
 * NULL when the args cannot be read or the ring buffer is full. */
static __always_inline struct gp_event *gp_ioctl_event(__u32 kind, struct kfd_process___gp *p, void *data,
						       void *args, __u32 size, int ret)
{
	struct gp_event *e;
	__u16 ctx;

	if (bpf_probe_read_kernel(args, size, data))
		return NULL;
	e = gp_reserve(kind);
	if (!e)
		return NULL;
	e->ret = ret;
	e->tgid = gp_process_tgid(p);
	/* A secondary context (7.x) issues ioctls on its own fd with the same
	 * tgid: its qids are its own, never the primary's. */
	ctx = gp_process_context_id(p);
	if (ctx != GP_CONTEXT_PRIMARY) {
		e->ev_flags |= GP_EVF_SECONDARY;
		e->io.context_id = ctx;
	}
	return e;
}

static __always_inline void gp_ioctl_create_queue_done(struct kfd_process___gp *p, void *data, int ret)
{
	struct gp_kfd_create_queue_args a;
	struct gp_event *e = gp_ioctl_event(GP_EV_IOCTL_CREATE_QUEUE, p, data, &a, sizeof(a), ret);

	if (!e)
		return;
	e->io.ring_addr = a.ring_base_address;
	e->io.ring_size = a.ring_size;
	e->io.gpu_id = a.gpu_id;
	e->io.queue_type = a.queue_type;
	e->io.percent = a.queue_percentage;
	e->io.priority = a.queue_priority;
	e->io.qid = ret == 0 ? a.queue_id : ~0u;
	gp_submit(e);
}

/* A destroy of a debugger-suspended queue sleeps until it is resumed:
 * announce it at entry so the controller can resume that queue. */
static __always_inline void gp_ioctl_destroy_begin(struct kfd_process___gp *p, void *data)
{
	struct gp_kfd_destroy_queue_args a;
	struct gp_event *e = gp_ioctl_event(GP_EV_IOCTL_DESTROY_BEGIN, p, data, &a, sizeof(a), 0);

	if (!e)
		return;
	e->io.qid = a.queue_id;
	gp_submit(e);
}

static __always_inline void gp_ioctl_destroy_queue_done(struct kfd_process___gp *p, void *data, int ret)
{
	struct gp_kfd_destroy_queue_args a;
	struct gp_event *e = gp_ioctl_event(GP_EV_IOCTL_DESTROY_QUEUE, p, data, &a, sizeof(a), ret);

	if (!e)
		return;
	e->io.qid = a.queue_id;
	gp_submit(e);
}

static __always_inline void gp_ioctl_update_queue_done(struct kfd_process___gp *p, void *data, int ret)
{
	struct gp_kfd_update_queue_args a;
	struct gp_event *e = gp_ioctl_event(GP_EV_IOCTL_UPDATE_QUEUE, p, data, &a, sizeof(a), ret);

	if (!e)
		return;
	e->io.ring_addr = a.ring_base_address;
	e->io.ring_size = a.ring_size;
	e->io.percent = a.queue_percentage;
	e->io.priority = a.queue_priority;
	e->io.qid = a.queue_id;
	gp_submit(e);
}

/* AMDKFD_IOC_DBG_TRAP (6.12+): p is the caller (the debugger), args.pid the target. */
static __always_inline void gp_ioctl_dbg_trap_done(struct kfd_process___gp *p, void *data, int ret)
{
	struct gp_kfd_dbg_trap_args a;
	struct gp_event *e = gp_ioctl_event(GP_EV_IOCTL_DBG_TRAP, p, data, &a, sizeof(a), ret);

	if (!e)
		return;
	e->io.dbg_op = a.op;
	e->io.dbg_target_pid = a.pid;
	if (a.op == GP_KFD_DBG_TRAP_SUSPEND_QUEUES) {
		e->io.dbg_num_queues = a.suspend_queues.num_queues;
		e->io.dbg_grace = a.suspend_queues.grace_period;
		e->io.arg0 = a.suspend_queues.exception_mask;
	} else if (a.op == GP_KFD_DBG_TRAP_RESUME_QUEUES) {
		e->io.dbg_num_queues = a.resume_queues.num_queues;
	} else if (a.op == GP_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT) {
		e->io.dbg_num_queues = a.queue_snapshot.num_queues; /* out: total queues */
		e->io.arg0 = a.queue_snapshot.exception_mask;
	} else if (a.op == GP_KFD_DBG_TRAP_ENABLE) {
		e->io.arg0 = a.enable.exception_mask;
	}
	gp_submit(e);
}

/* The kprobe variant: entry stashes (data, p), return emits. */
#define GP_IOCTL_KPROBES(name, fn)                                    \
	SEC("kprobe")                                                 \
	int BPF_KPROBE(name##_entry, void *filep, struct kfd_process___gp *p, void *data) \
	{                                                             \
		gp_stash_put(fn, (__u64)data, (__u64)p);              \
		return 0;                                             \
	}                                                             \
	GP_STASH_RETURN(name, fn, gp_##name##_done((void *)st.aux, (void *)st.ptr, ret))

/* The fexit variant: one program, nothing stashed. */
#define GP_IOCTL_FEXIT(name)                                          \
	GP_FEXIT                                                      \
	int BPF_PROG(name##_fexit, void *filep, struct kfd_process___gp *p, void *data) \
	{                                                             \
		gp_##name##_done(p, data, (int)gp_fexit_ret(ctx));    \
		return 0;                                             \
	}

GP_IOCTL_KPROBES(ioctl_create_queue, GP_FN_IOCTL_CREATE)
GP_IOCTL_FEXIT(ioctl_create_queue)
GP_IOCTL_FEXIT(ioctl_destroy_queue)
GP_IOCTL_KPROBES(ioctl_update_queue, GP_FN_IOCTL_UPDATE)
GP_IOCTL_FEXIT(ioctl_update_queue)
GP_IOCTL_KPROBES(ioctl_dbg_trap, GP_FN_IOCTL_DBG_TRAP)
GP_IOCTL_FEXIT(ioctl_dbg_trap)

/* Destroy emits at entry too. */
SEC("kprobe")
int BPF_KPROBE(ioctl_destroy_queue_entry, void *filep, struct kfd_process___gp *p, void *data)
{
	gp_stash_put(GP_FN_IOCTL_DESTROY, (__u64)data, (__u64)p);
	gp_ioctl_destroy_begin(p, data);
	return 0;
}

GP_STASH_RETURN(ioctl_destroy_queue, GP_FN_IOCTL_DESTROY,
		gp_ioctl_destroy_queue_done((void *)st.aux, (void *)st.ptr, ret))

GP_FENTRY
int BPF_PROG(ioctl_destroy_queue_fentry, void *filep, struct kfd_process___gp *p, void *data)
{
	gp_ioctl_destroy_begin(p, data);
	return 0;
}

/* ------------------------------------------------------------ every ioctl */
/* watch --ioctls: kfd_ioctl(filep, cmd, arg) is the dispatcher every /dev/kfd
 * ioctl goes through, known command or not. At its return the user argument
 * holds what KFD copied back (_IOC_OUT) or what it was given (_IOC_IN only);
 * its first GP_KFD_IOCTL_DATA bytes go into the event. The caller is current
 * (KFD refuses an fd used from another process). Loaded only when asked for. */
static __always_inline void gp_kfd_ioctl_done(__u32 cmd, __u64 arg, int ret)
{
	struct gp_event *e = gp_reserve(GP_EV_KFD_IOCTL);
	__u32 size = (cmd >> 16) & 0x3fff; /* _IOC_SIZE */

	if (!e)
		return;
	e->ret = ret;
	e->tgid = e->acting_tgid;
	e->kio.cmd = cmd;
	e->kio.arg = arg;
	if (size > GP_KFD_IOCTL_DATA)
		size = GP_KFD_IOCTL_DATA;
	if (size && arg && !bpf_probe_read_user(e->kio.data, size, (void *)arg))
		e->kio.data_len = size;
	gp_submit(e);
}

SEC("kprobe")
int BPF_KPROBE(kfd_ioctl_entry, void *filep, unsigned int cmd, unsigned long arg)
{
	gp_stash_put(GP_FN_KFD_IOCTL, arg, cmd);
	return 0;
}

GP_STASH_RETURN(kfd_ioctl, GP_FN_KFD_IOCTL, gp_kfd_ioctl_done((__u32)st.aux, st.ptr, ret))

GP_FEXIT
int BPF_PROG(kfd_ioctl_fexit, void *filep, unsigned int cmd, unsigned long arg)
{
	gp_kfd_ioctl_done(cmd, arg, (int)gp_fexit_ret(ctx));
	return 0;
}

/* ------------------------------------------------------------ process lifetime */

static __always_inline void gp_emit_process(__u32 kind, struct kfd_process___gp *p, int ret)
{
	struct gp_event *e = gp_reserve(kind);
	__u32 pasid;

	if (!e)
		return;
	e->ret = ret;
	e->tgid = gp_process_tgid(p);
	e->proc.proc_kptr = (__u64)p;
	gp_process_context(e, &e->proc.context_id, p);
	if (gp_process_pasid(p, &pasid)) {
		e->proc.pasid = pasid;
		e->ev_flags |= GP_EVF_HAS_PASID;
	}
	gp_submit(e);
}

/* kfd_process objects already announced: kfd_create_process() also returns
 * an existing process (a DBG_TRAP ENABLE looks its target up through it), and
 * that is not a creation. Forgotten when the process is freed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u8);
} gp_known_procs SEC(".maps");

/* ret: the kfd_process or an ERR_PTR. */
static __always_inline void gp_create_process_done(long ret)
{
	__u64 key = (__u64)ret;
	__u8 one = 1;

	if (ret == 0)
		return;
	if ((unsigned long)ret >= (unsigned long)-4095) {
		struct gp_event *e = gp_reserve(GP_EV_PROCESS_CREATE);

		if (!e)
			return;
		e->ret = (int)ret;
		e->tgid = e->acting_tgid;
		gp_submit(e);
		return;
	}
	if (bpf_map_lookup_elem(&gp_known_procs, &key))
		return;
	bpf_map_update_elem(&gp_known_procs, &key, &one, BPF_ANY);
	gp_emit_process(GP_EV_PROCESS_CREATE, (void *)ret, 0);
}

SEC("kretprobe")
int BPF_KRETPROBE(kfd_create_process_return, long ret)
{
	gp_create_process_done(ret);
	return 0;
}

GP_FEXIT
int BPF_PROG(kfd_create_process_fexit)
{
	gp_create_process_done(gp_fexit_ret(ctx));
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(kfd_process_notifier_release, void *mn)
{
	void *p = mn - bpf_core_field_offset(struct kfd_process___gp, mmu_notifier);

	gp_emit_process(GP_EV_PROCESS_RELEASE, p, 0);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(kfd_process_wq_release, void *work)
{
	void *p = work - bpf_core_field_offset(struct kfd_process___gp, release_work);
	__u64 key = (__u64)p;

	bpf_map_delete_elem(&gp_known_procs, &key);
	gp_emit_process(GP_EV_PROCESS_FREE, p, 0);
	return 0;
}
