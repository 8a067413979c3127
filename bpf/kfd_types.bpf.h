/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Local CO-RE views of the amdgpu (KFD) types: only the fields we read, with
 * preserve_access_index so libbpf relocates every access against the running
 * module's BTF (/sys/kernel/btf/amdgpu). No offset is written down anywhere.
 *
 * The ___gp suffix keeps these apart from anything vmlinux.h may define;
 * libbpf matches them to the kernel's struct queue, struct kfd_process, ...
 * by the name before "___".
 *
 * Fields that do not exist on every supported kernel are marked; read them
 * only behind bpf_core_field_exists() (see the accessors in bpf/common.bpf.h).
 *   6.1 : struct queue.device is a struct kfd_dev * (kfd_dev.id = gpu_id)
 *   6.12+: struct kfd_node * (kfd_node.id); is_suspended & co. appear
 *   7.x : kfd_process.pasid gone (kfd_process_device.pasid), context_id
 *         (secondary contexts), is_reset
 */
#ifndef GPREEMPT_BPF_KFD_TYPES_H
#define GPREEMPT_BPF_KFD_TYPES_H

#include "vmlinux.h"

enum kfd_queue_type___gp {
	KFD_QUEUE_TYPE_COMPUTE___gp,
	KFD_QUEUE_TYPE_SDMA___gp,
	KFD_QUEUE_TYPE_HIQ___gp,
	KFD_QUEUE_TYPE_DIQ___gp,            /* gone in newer kernels */
	KFD_QUEUE_TYPE_SDMA_XGMI___gp,
	KFD_QUEUE_TYPE_SDMA_BY_ENG_ID___gp, /* 6.12+ */
};

/* CO-RE treats enums and ints as incompatible: keep the kernel's enum kinds. */
enum kfd_queue_format___gp {
	KFD_QUEUE_FORMAT_PM4___gp,
	KFD_QUEUE_FORMAT_AQL___gp,
};

struct queue_properties___gp {
	enum kfd_queue_type___gp type;
	enum kfd_queue_format___gp format;
	unsigned int queue_id;
	__u64 queue_address;
	__u64 queue_size;
	__u32 priority;
	__u32 queue_percent;
	void *read_ptr;
	void *write_ptr;
	__u32 doorbell_off;
	bool is_evicted;
	bool is_suspended;              /* 6.12+ */
	bool is_being_destroyed;        /* 6.12+ */
	bool is_active;
	bool is_gws;
	bool is_reset;                  /* 7.x */
	bool is_dbg_wa;                 /* 6.12+ */
	__u32 sdma_engine_id;
	__u64 ctx_save_restore_area_address;
	__u32 ctx_save_restore_area_size;
	__u64 exception_status;         /* 6.12+ */
} __attribute__((preserve_access_index));

struct kfd_process___gp;

struct queue___gp {
	struct list_head list;          /* on qpd->queues_list */
	struct queue_properties___gp properties;
	struct kfd_process___gp *process;
	void *device;                   /* struct kfd_dev * (6.1) / struct kfd_node * (6.12+) */
	unsigned int doorbell_id;       /* index in the process's doorbell page */
	struct kobject kobj;            /* sysfs proc/<pid>/queues/<qid> */
} __attribute__((preserve_access_index));

struct process_queue_manager___gp {
	struct kfd_process___gp *process;
	struct list_head queues;        /* of struct process_queue_node */
} __attribute__((preserve_access_index));

struct process_queue_node___gp {
	struct queue___gp *q;
	struct list_head process_queue_list;
} __attribute__((preserve_access_index));

struct kfd_process___gp {
	struct work_struct release_work;
	struct task_struct *lead_thread;
	struct mmu_notifier mmu_notifier;
	__u32 pasid;                    /* 6.1, 6.12 */
	struct process_queue_manager___gp pqm;
	__u16 context_id;               /* 7.x */
} __attribute__((preserve_access_index));

struct qcm_process_device___gp {
	struct list_head queues_list;   /* of struct queue, via queue.list */
	unsigned int queue_count;
	unsigned int evicted;           /* eviction refcount */
} __attribute__((preserve_access_index));

struct kfd_process_device___gp {
	void *dev;                      /* struct kfd_dev * (6.1) / struct kfd_node * (6.12+) */
	struct kfd_process___gp *process;
	struct qcm_process_device___gp qpd;
	__u32 pasid;                    /* 7.x (per device); 6.1x keep it in kfd_process */
} __attribute__((preserve_access_index));

/* 6.12+: one node per partition; gpu_id lives here. */
struct kfd_node___gp {
	__u32 id;
} __attribute__((preserve_access_index));

/* 6.1: no kfd_node; kfd_dev carries the gpu_id. */
struct kfd_dev___gp {
	__u32 id;
} __attribute__((preserve_access_index));

#endif /* GPREEMPT_BPF_KFD_TYPES_H */
