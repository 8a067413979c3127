/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one event ABI between the BPF programs (bpf/NAME.bpf.c) and user space
 * (trace/event.cpp). Every record on the ring buffer is exactly
 * one struct gp_event. Kernel-version differences never reach this header:
 * the BPF side translates them into these fixed, version-free fields.
 *
 * Bump GP_EVENT_ABI_VERSION whenever the layout changes; the decoder refuses
 * records whose size does not match.
 */
#ifndef GPREEMPT_BPF_EVENTS_H
#define GPREEMPT_BPF_EVENTS_H

#ifdef __cplusplus
#include <cstdint>
typedef std::uint8_t gp_u8;
typedef std::uint16_t gp_u16;
typedef std::uint32_t gp_u32;
typedef std::int32_t gp_s32;
typedef std::uint64_t gp_u64;
#elif defined(__BPF__) || defined(__bpf__)
typedef __u8 gp_u8;
typedef __u16 gp_u16;
typedef __u32 gp_u32;
typedef __s32 gp_s32;
typedef __u64 gp_u64;
#else
#include <stdint.h>
typedef uint8_t gp_u8;
typedef uint16_t gp_u16;
typedef uint32_t gp_u32;
typedef int32_t gp_s32;
typedef uint64_t gp_u64;
#endif

/* 2: gp_event.seq (u64) links preemptions and victims; gp_preempt_info.seq
 *    (u32, cpu << 24 | counter, which aliased CPU n with CPU n + 256) became
 *    gp_preempt_info.flags; gp_ioctl_info's pad became context_id (a
 *    secondary KFD context's ioctls, with GP_EVF_SECONDARY); GP_EV_KFD_IOCTL
 *    and its payload gp_kfd_ioctl_info were added. */
#define GP_EVENT_ABI_VERSION 2
#define GP_COMM_LEN 16
/* Upper bound for list walks in BPF (qpd->queues_list, pqm->queues):
 * KFD_MAX_NUM_OF_QUEUES_PER_PROCESS is 1024. */
#define GP_MAX_QUEUE_WALK 1024

enum gp_event_kind {
	GP_EV_NONE = 0,
	/* Queue lifecycle: the exact map is built from these. */
	GP_EV_QUEUE_ADD = 1,       /* kfd_procfs_add_queue(q): queue fully created */
	GP_EV_QUEUE_REMOVE = 2,    /* uninit_queue(q): freed (unknown pointers are ignored) */
	GP_EV_QUEUE_SNAPSHOT = 3,  /* kfd_procfs_queue_show(q): startup reconciliation */
	GP_EV_QUEUE_STATE = 4,     /* flags re-read at the return of a state change; cause says which */
	GP_EV_PROCESS_SWEEP = 5,   /* pqm_uninit(pqm): every queue of this kfd_process is gone */
	GP_EV_QPD_TERMINATE = 6,   /* process_termination_*(qpd): the process's queues on one GPU are unmapped */
	/* What user space asked for, and whether it failed (ioctl entry args + return code). */
	GP_EV_IOCTL_CREATE_QUEUE = 7,
	GP_EV_IOCTL_DESTROY_QUEUE = 8,
	GP_EV_IOCTL_UPDATE_QUEUE = 9,
	GP_EV_IOCTL_DBG_TRAP = 10,  /* kfd_ioctl_set_debug_trap: op, target pid, return */
	/* KFD process lifetime. */
	GP_EV_PROCESS_CREATE = 11,  /* kfd_create_process return */
	GP_EV_PROCESS_RELEASE = 12, /* kfd_process_notifier_release: the mm is going away */
	GP_EV_PROCESS_FREE = 13,    /* kfd_process_wq_release: the kfd_process is freed */
	/* One in-kernel preemption (HWS unmap or MES remove); see struct gp_preempt_info. */
	GP_EV_PREEMPT = 14,
	/* One (owner, qid) that a preemption hit; seq links it to its GP_EV_PREEMPT. */
	GP_EV_PREEMPT_VICTIM = 15,
	/* kfd_ioctl_destroy_queue entry: a destroy begins (it blocks while the
	 * queue is debugger-suspended, so the controller must resume it). */
	GP_EV_IOCTL_DESTROY_BEGIN = 16,
	/* kfd_ioctl return: ANY /dev/kfd ioctl (watch --ioctls only); see
	 * struct gp_kfd_ioctl_info. tgid is the caller. */
	GP_EV_KFD_IOCTL = 17,
	GP_EV_KIND_MAX
};

/* Why a state change or preemption happened: the innermost KFD function on
 * the thread that names one (docs/latency.md, "Causes"). */
enum gp_cause {
	GP_CAUSE_NONE = 0,
	GP_CAUSE_CREATE = 1,
	GP_CAUSE_DESTROY = 2,
	GP_CAUSE_UPDATE = 3,
	GP_CAUSE_EVICT = 4,
	GP_CAUSE_RESTORE = 5,
	GP_CAUSE_TERMINATE = 6,
	GP_CAUSE_DBG_SUSPEND = 7,
	GP_CAUSE_DBG_RESUME = 8,
	GP_CAUSE_DBG_REFRESH = 9,
	GP_CAUSE_HALT = 10,
	GP_CAUSE_UNHALT = 11,
	GP_CAUSE_STOP = 12,
	GP_CAUSE_START = 13,
	GP_CAUSE_RESET = 14,         /* reset_queues_cpsch (unmap by pasid with reset); on a
					GP_EV_QUEUE_STATE: the kernel reset this hung queue */
	GP_CAUSE_DBG_WATCH = 15,     /* debug_lock_and_unmap outside a refresh: address watch */
	GP_CAUSE_DBG_VMID_RESERVE = 16, /* reserve_debug_trap_vmid */
	GP_CAUSE_DBG_VMID_RELEASE = 17, /* release_debug_trap_vmid */
	GP_CAUSE_GFX_USERQ = 18,     /* amdgpu graphics user queue (mes_userqueue.c), not KFD */
	GP_CAUSE_BAD_QUEUE = 19,     /* kfd_dqm_suspend_bad_queue_mes: a queue hit a bad opcode */
	GP_CAUSE_MAX
};

/* Queue type, translated from the kernel's enum kfd_queue_type by CO-RE enum
 * relocations (its numbering differs between versions). */
enum gp_queue_type {
	GP_QTYPE_COMPUTE = 0,
	GP_QTYPE_SDMA = 1,
	GP_QTYPE_HIQ = 2,
	GP_QTYPE_DIQ = 3,
	GP_QTYPE_SDMA_XGMI = 4,
	GP_QTYPE_SDMA_BY_ENG_ID = 5,
	GP_QTYPE_UNKNOWN = 15,
};

enum gp_queue_format {
	GP_QFMT_PM4 = 0,
	GP_QFMT_AQL = 1,
};

/* gp_queue_info.flags: the queue_properties booleans; absent ones stay 0. */
#define GP_QF_ACTIVE (1u << 0)
#define GP_QF_EVICTED (1u << 1)
#define GP_QF_SUSPENDED (1u << 2)          /* 6.12+ */
#define GP_QF_BEING_DESTROYED (1u << 3)    /* 6.12+ */
#define GP_QF_GWS (1u << 4)
#define GP_QF_RESET (1u << 5)              /* 7.x */
#define GP_QF_DBG_WA (1u << 6)             /* 6.12+ */
#define GP_QF_NEW_PENDING (1u << 7)        /* exception_status has EC_QUEUE_NEW (6.12+) */

/* gp_event.ev_flags */
#define GP_EVF_HAS_QUEUE (1u << 0)   /* the q payload is filled */
#define GP_EVF_HAS_PASID (1u << 1)
#define GP_EVF_SECONDARY (1u << 2)   /* 7.x secondary KFD context: queue, process and ioctl records */

/* gp_preempt_info.flags (docs/latency.md) */
#define GP_PF_VICTIMS_UNKNOWN (1u << 0)   /* a packet went out, but the runlist it preempted is not
					     known (uploaded before the probes attached, or after a
					     failed unmap): no victims listed */
#define GP_PF_VICTIMS_TRUNCATED (1u << 1) /* more queues than one record holds: victims counts all,
					     only the first GP_RUNLIST_MAX are listed */
#define GP_PF_ALL_QUEUES (1u << 2)        /* MES: suspend/resume of every queue on the device */
#define GP_PF_NOT_KFD (1u << 3)           /* MES: an amdgpu graphics user queue, not a KFD queue */
#define GP_PF_QUEUE_RESET (1u << 4)       /* the kernel reset hung queues inside this preemption;
					     their state follows as GP_EV_QUEUE_STATE, cause reset */

#define GP_CONTEXT_PRIMARY 0xFFFF

struct gp_queue_info {
	gp_u64 queue_kptr;      /* struct queue *: identity for add/remove */
	gp_u64 proc_kptr;       /* struct kfd_process *: identity for sweeps */
	gp_u64 ring_addr;       /* user VA of the ring */
	gp_u64 rptr_addr;       /* user VA of the read dispatch pointer */
	gp_u64 wptr_addr;       /* user VA of the write dispatch pointer */
	gp_u64 ctx_save_addr;   /* CWSR area (user VA) */
	gp_u64 ring_size;       /* bytes */
	gp_u32 qid;
	gp_u32 gpu_id;
	gp_u32 doorbell_off;
	gp_u32 ctx_save_size;
	gp_u16 context_id;      /* GP_CONTEXT_PRIMARY unless 7.x secondary context */
	gp_u8 type;             /* enum gp_queue_type */
	gp_u8 format;           /* enum gp_queue_format */
	gp_u8 priority;         /* 0..15 */
	gp_u8 percent;          /* 0..100 */
	gp_u8 flags;            /* GP_QF_* */
	gp_u8 sdma_engine;
};

/* Requested values of an ioctl (GP_EV_IOCTL_*), read from the kernel copy of
 * the uapi args at entry; qid is the returned one for a successful create. */
struct gp_ioctl_info {
	gp_u64 ring_addr;
	gp_u64 arg0;            /* DBG_TRAP: exception_mask (suspend) */
	gp_u32 ring_size;
	gp_u32 gpu_id;
	gp_u32 queue_type;      /* uapi KFD_IOC_QUEUE_TYPE_* as requested */
	gp_u32 percent;         /* as requested (may carry pm4_target_xcc in bits 8-15) */
	gp_u32 priority;
	gp_u32 qid;
	gp_u32 dbg_op;          /* DBG_TRAP op */
	gp_u32 dbg_target_pid;  /* DBG_TRAP args.pid */
	gp_u32 dbg_num_queues;  /* SUSPEND/RESUME/GET_QUEUE_SNAPSHOT count */
	gp_u32 dbg_grace;       /* SUSPEND grace period */
	gp_u32 dbg_target_tgid; /* resolved owner of the target kfd_process, when known */
	gp_u16 context_id;      /* with GP_EVF_SECONDARY: the caller's secondary context; else 0 */
	gp_u16 pad;
};

/* Any /dev/kfd ioctl (GP_EV_KFD_IOCTL), at the return of the dispatcher
 * kfd_ioctl(filep, cmd, arg): the request and the first bytes of the user
 * argument as it is then (what KFD copied back for _IOC_OUT commands, what it
 * was given for _IOC_IN-only ones). */
#define GP_KFD_IOCTL_DATA 64
struct gp_kfd_ioctl_info {
	gp_u64 arg;             /* the user pointer passed to ioctl() */
	gp_u32 cmd;             /* the request: _IOC(dir, 'K', nr, size) */
	gp_u16 data_len;        /* bytes of data read: min(_IOC_SIZE(cmd), 64); 0 if unreadable */
	gp_u16 pad;
	gp_u8 data[GP_KFD_IOCTL_DATA];
};

/* Process-level payload (GP_EV_PROCESS_*, GP_EV_PROCESS_SWEEP, GP_EV_QPD_TERMINATE). */
struct gp_process_info {
	gp_u64 proc_kptr;
	gp_u32 pasid;
	gp_u32 gpu_id;          /* QPD_TERMINATE: the GPU whose queues were unmapped */
	gp_u16 context_id;
	gp_u16 pad0;
	gp_u32 queue_count;     /* QPD_TERMINATE: qpd->queue_count at entry */
	gp_u64 pad1[4];
};

/*
 * One preemption, T0..T4 of docs/kfd-internals.md §3, as offsets from t0 (0 = the
 * point did not happen). HWS: unmap_queues_cpsch; MES: *_remove_hw_queue.
 */
struct gp_preempt_info {
	gp_u64 t0_ns;           /* absolute, CLOCK_MONOTONIC */
	gp_u32 send_entry_ns;   /* T1 - T0: grace programming */
	gp_u32 send_return_ns;  /* T2 - T0 */
	gp_u32 fence_return_ns; /* T3 - T0 */
	gp_u32 total_ns;        /* T4 - T0 */
	gp_u32 remap_ns;        /* map_queues_cpsch / pm_send_runlist submission time */
	gp_u32 gpu_id;
	gp_u32 filter;          /* enum kfd_unmap_queues_filter */
	gp_u32 grace;           /* grace period argument, 0xffffffff = default */
	gp_s32 fence_ret;
	gp_u32 victims;         /* queues the preemption hit (GP_EV_PREEMPT_VICTIM count) */
	gp_u32 flags;           /* GP_PF_* */
	gp_u32 cause_tgid;      /* process the cause acted on */
	gp_u32 cause_qid;       /* queue the cause acted on, or ~0 */
	gp_u8 packet_sent;      /* 0: returned early (no runlist / not running) */
	gp_u8 mes;              /* 1: MES span (remove_hw_queue, or add_hw_queue with mes_add) */
	gp_u8 reset;            /* unmap with reset=true */
	gp_u8 mes_add;          /* MES: 1 = add_hw_queue (map), 0 = remove_hw_queue (preempt) */
	gp_u32 doorbell_off;    /* MES: the queue's doorbell offset (joins with the map) */
	gp_u32 trigger;         /* eviction trigger (KFD_QUEUE_EVICTION_TRIGGER_*), ~0 if none */
	gp_u64 end_ns;          /* absolute T4: exact total even past the u32 offsets' 4.29 s
				   (a fence timeout is 9 s by default); offsets saturate there */
};

struct gp_event {
	gp_u64 ts_ns;           /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	gp_u32 kind;            /* enum gp_event_kind */
	gp_u32 cause;           /* enum gp_cause */
	gp_u32 tgid;            /* owner: q->process->lead_thread->tgid, never current */
	gp_u32 tid;             /* acting thread (current) */
	gp_u32 acting_tgid;     /* acting process (current) */
	gp_s32 ret;             /* return code where there is one */
	gp_u32 aux;             /* kind-specific: eviction trigger, qpd->evicted, sweep count */
	gp_u32 ev_flags;        /* GP_EVF_* */
	char comm[GP_COMM_LEN]; /* acting comm */
	gp_u64 seq;             /* GP_EV_PREEMPT and GP_EV_PREEMPT_VICTIM: the preemption a victim
				   belongs to (gp_seq_make: cpu << 32 | per-CPU counter); 0 otherwise */
	union {
		struct gp_queue_info q;
		struct gp_ioctl_info io;
		struct gp_process_info proc;
		struct gp_preempt_info pre;
		struct gp_kfd_ioctl_info kio;
	};
};

/* Compile-time layout checks: both sides must agree byte for byte. */
#ifdef __cplusplus
static_assert(sizeof(struct gp_queue_info) == 80, "gp_queue_info layout");
static_assert(sizeof(struct gp_preempt_info) == 80, "gp_preempt_info layout");
static_assert(sizeof(struct gp_kfd_ioctl_info) == 80, "gp_kfd_ioctl_info layout");
static_assert(sizeof(struct gp_event) == 144, "gp_event layout");
static_assert(__builtin_offsetof(struct gp_event, seq) == 56, "gp_event.seq offset");
#else
_Static_assert(sizeof(struct gp_queue_info) == 80, "gp_queue_info layout");
_Static_assert(sizeof(struct gp_preempt_info) == 80, "gp_preempt_info layout");
_Static_assert(sizeof(struct gp_kfd_ioctl_info) == 80, "gp_kfd_ioctl_info layout");
_Static_assert(sizeof(struct gp_event) == 144, "gp_event layout");
_Static_assert(__builtin_offsetof(struct gp_event, seq) == 56, "gp_event.seq offset");
#endif

/* Loss counters: one slot per CPU in a BPF_MAP_TYPE_PERCPU_ARRAY "gp_lost". */
enum gp_lost_slot {
	GP_LOST_RINGBUF = 0,   /* bpf_ringbuf_reserve failed */
	GP_LOST_STASH = 1,     /* entry stash full: a return was seen without its entry */
	GP_LOST_SLOTS
};

#endif /* GPREEMPT_BPF_EVENTS_H */
