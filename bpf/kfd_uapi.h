/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The parts of the KFD user ABI (include/uapi/linux/kfd_ioctl.h) that
 * gpreempt-bpf uses, written out from the documented ABI so the build does not
 * depend on which linux-libc-dev the host has (Debian 12's 6.1 header has no
 * debugger API). The uapi is stable: these layouts are the same on 6.1, 6.12
 * and 7.x, and KFD zero-extends shorter argument structs.
 *
 * Prefixed gp_kfd_ so it never clashes with <linux/kfd_ioctl.h>.
 * Shared by the BPF programs (reading ioctl args) and user space (issuing them).
 */
#ifndef GPREEMPT_BPF_KFD_UAPI_H
#define GPREEMPT_BPF_KFD_UAPI_H

#include "events.h" /* gp_u32/gp_u64 */

#define GP_KFD_IOCTL_BASE 'K'

struct gp_kfd_get_version_args {
	gp_u32 major_version;
	gp_u32 minor_version;
};

struct gp_kfd_create_queue_args {
	gp_u64 ring_base_address;
	gp_u64 write_pointer_address;
	gp_u64 read_pointer_address;
	gp_u64 doorbell_offset;      /* from KFD */
	gp_u32 ring_size;
	gp_u32 gpu_id;
	gp_u32 queue_type;           /* GP_KFD_QUEUE_TYPE_* */
	gp_u32 queue_percentage;
	gp_u32 queue_priority;
	gp_u32 queue_id;             /* from KFD */
	gp_u64 eop_buffer_address;
	gp_u64 eop_buffer_size;
	gp_u64 ctx_save_restore_address;
	gp_u32 ctx_save_restore_size;
	gp_u32 ctl_stack_size;
};

struct gp_kfd_destroy_queue_args {
	gp_u32 queue_id;
	gp_u32 pad;
};

struct gp_kfd_update_queue_args {
	gp_u64 ring_base_address;
	gp_u32 queue_id;
	gp_u32 ring_size;
	gp_u32 queue_percentage;
	gp_u32 queue_priority;
};

struct gp_kfd_runtime_enable_args {
	gp_u64 r_debug;
	gp_u32 mode_mask;
	gp_u32 capabilities_mask;
};

/* AMDKFD_IOC_DBG_TRAP (KFD >= 1.13) */
enum gp_kfd_dbg_trap_op {
	GP_KFD_DBG_TRAP_ENABLE = 0,
	GP_KFD_DBG_TRAP_DISABLE = 1,
	GP_KFD_DBG_TRAP_SEND_RUNTIME_EVENT = 2,
	GP_KFD_DBG_TRAP_SET_EXCEPTIONS_ENABLED = 3,
	GP_KFD_DBG_TRAP_SET_WAVE_LAUNCH_OVERRIDE = 4,
	GP_KFD_DBG_TRAP_SET_WAVE_LAUNCH_MODE = 5,
	GP_KFD_DBG_TRAP_SUSPEND_QUEUES = 6,
	GP_KFD_DBG_TRAP_RESUME_QUEUES = 7,
	GP_KFD_DBG_TRAP_SET_NODE_ADDRESS_WATCH = 8,
	GP_KFD_DBG_TRAP_CLEAR_NODE_ADDRESS_WATCH = 9,
	GP_KFD_DBG_TRAP_SET_FLAGS = 10,
	GP_KFD_DBG_TRAP_QUERY_DEBUG_EVENT = 11,
	GP_KFD_DBG_TRAP_QUERY_EXCEPTION_INFO = 12,
	GP_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT = 13,
	GP_KFD_DBG_TRAP_GET_DEVICE_SNAPSHOT = 14,
};

struct gp_kfd_dbg_trap_enable_args {
	gp_u64 exception_mask;
	gp_u64 rinfo_ptr;
	gp_u32 rinfo_size;
	gp_u32 dbg_fd;
};

struct gp_kfd_dbg_trap_send_runtime_event_args {
	gp_u64 exception_mask;
	gp_u32 gpu_id;
	gp_u32 queue_id;
};

struct gp_kfd_dbg_trap_suspend_queues_args {
	gp_u64 exception_mask;
	gp_u64 queue_array_ptr;
	gp_u32 num_queues;
	gp_u32 grace_period;
};

struct gp_kfd_dbg_trap_resume_queues_args {
	gp_u64 queue_array_ptr;
	gp_u32 num_queues;
	gp_u32 pad;
};

struct gp_kfd_dbg_trap_query_debug_event_args {
	gp_u64 exception_mask;
	gp_u32 gpu_id;
	gp_u32 queue_id;
};

struct gp_kfd_dbg_trap_queue_snapshot_args {
	gp_u64 exception_mask;
	gp_u64 snapshot_buf_ptr;
	gp_u32 num_queues;
	gp_u32 entry_size;
};

struct gp_kfd_queue_snapshot_entry {
	gp_u64 exception_status;
	gp_u64 ring_base_address;
	gp_u64 write_pointer_address;
	gp_u64 read_pointer_address;
	gp_u64 ctx_save_restore_address;
	gp_u32 queue_id;
	gp_u32 gpu_id;
	gp_u32 ring_size;
	gp_u32 queue_type;
	gp_u32 ctx_save_restore_area_size;
	gp_u32 reserved;
};

struct gp_kfd_dbg_trap_query_exception_info_args {
	gp_u64 info_ptr;
	gp_u32 info_size;
	gp_u32 source_id;
	gp_u32 exception_code;
	gp_u32 clear_exception;
};

struct gp_kfd_runtime_info {
	gp_u64 r_debug;
	gp_u32 runtime_state;  /* enum gp_kfd_runtime_state */
	gp_u32 ttmp_setup;
};

enum gp_kfd_runtime_state {
	GP_KFD_RUNTIME_DISABLED = 0,
	GP_KFD_RUNTIME_ENABLED = 1,
	GP_KFD_RUNTIME_ENABLED_BUSY = 2,
	GP_KFD_RUNTIME_ENABLED_ERROR = 3,
};

struct gp_kfd_dbg_trap_args {
	gp_u32 pid;
	gp_u32 op;
	union {
		struct gp_kfd_dbg_trap_enable_args enable;
		struct gp_kfd_dbg_trap_send_runtime_event_args send_runtime_event;
		struct gp_kfd_dbg_trap_suspend_queues_args suspend_queues;
		struct gp_kfd_dbg_trap_resume_queues_args resume_queues;
		struct gp_kfd_dbg_trap_query_debug_event_args query_debug_event;
		struct gp_kfd_dbg_trap_queue_snapshot_args queue_snapshot;
		struct gp_kfd_dbg_trap_query_exception_info_args query_exception_info;
		gp_u64 raw[3];
	};
};

/* ioctl queue types (kfd_ioctl_create_queue_args.queue_type) */
#define GP_KFD_QUEUE_TYPE_COMPUTE 0x0
#define GP_KFD_QUEUE_TYPE_SDMA 0x1
#define GP_KFD_QUEUE_TYPE_COMPUTE_AQL 0x2
#define GP_KFD_QUEUE_TYPE_SDMA_XGMI 0x3
#define GP_KFD_QUEUE_TYPE_SDMA_BY_ENG_ID 0x4

#define GP_KFD_DBG_QUEUE_ERROR_MASK (1u << 30)
#define GP_KFD_DBG_QUEUE_INVALID_MASK (1u << 31)

#define GP_KFD_EC_MASK(ec) (1ULL << ((ec) - 1))
#define GP_KFD_EC_QUEUE_NEW 31
#define GP_KFD_EC_DEVICE_QUEUE_DELETE 32
#define GP_KFD_EC_PROCESS_RUNTIME 48

#define GP_KFD_RUNTIME_ENABLE_MODE_ENABLE_MASK 1u
#define GP_KFD_MAX_QUEUES_PER_PROCESS 1024
#define GP_KFD_USE_DEFAULT_GRACE 0xFFFFFFFFu
#define GP_KFD_DEBUG_API_MINOR 13 /* first KFD 1.x with DBG_TRAP / RUNTIME_ENABLE */

#ifndef __BPF__
#ifndef __bpf__
#include <linux/ioctl.h>
#define GP_KFD_IOR(nr, type) _IOR(GP_KFD_IOCTL_BASE, nr, type)
#define GP_KFD_IOW(nr, type) _IOW(GP_KFD_IOCTL_BASE, nr, type)
#define GP_KFD_IOWR(nr, type) _IOWR(GP_KFD_IOCTL_BASE, nr, type)

#define GP_KFD_IOC_GET_VERSION GP_KFD_IOR(0x01, struct gp_kfd_get_version_args)
#define GP_KFD_IOC_CREATE_QUEUE GP_KFD_IOWR(0x02, struct gp_kfd_create_queue_args)
#define GP_KFD_IOC_DESTROY_QUEUE GP_KFD_IOWR(0x03, struct gp_kfd_destroy_queue_args)
#define GP_KFD_IOC_UPDATE_QUEUE GP_KFD_IOW(0x07, struct gp_kfd_update_queue_args)
#define GP_KFD_IOC_RUNTIME_ENABLE GP_KFD_IOWR(0x25, struct gp_kfd_runtime_enable_args)
#define GP_KFD_IOC_DBG_TRAP GP_KFD_IOWR(0x26, struct gp_kfd_dbg_trap_args)
#endif
#endif

#endif /* GPREEMPT_BPF_KFD_UAPI_H */
