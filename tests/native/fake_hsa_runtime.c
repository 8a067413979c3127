/*
 * A stand-in for ROCm's libhsa-runtime64.so.1 in the native tests and the
 * detection benchmark: the two exported signal stores the doorbell uprobes
 * attach to (bpf/doorbell.bpf.c), with ROCR's calling convention and
 * amd_signal_t layout. A doorbell-kind signal's store goes to the word its
 * hardware_doorbell_ptr points at (a GPU's doorbell page on hardware, plain
 * memory here); any other kind's to its value. Nothing else of ROCm is here.
 *
 * The exported entry points are written in assembly, byte for byte the shape
 * of Debian's real builds (docs/performance.md, "Prologue shapes"): ROCR's
 * hsa_table_interface.cpp forwards each call through its API table, so the
 * entry is a RIP-relative load of the table pointer and a tail jump through
 * the table (hsa_signal_store_relaxed at +0x158, _screlease at +0x160, the
 * same offsets from 5.2 to 7.2):
 *
 *   GP_HSA_PROLOGUE=6 (6.1.2, 6.4.3, 7.2.4; the default build):
 *       endbr64 ; mov rax,[rip+table] ; jmp [rax+0x160]
 *   GP_HSA_PROLOGUE=5 (5.2.3, bookworm; built as fake-rocm-5.2.3/):
 *       mov rax,[rip+table] ; jmp [rax+0x160]
 *
 * The probed first instruction is what the uprobe's cost to the online
 * process depends on (the kernel emulates some instructions and single-steps
 * others out of line), so the benchmark measures both shapes.
 */
#include <stddef.h>
#include <stdint.h>

#ifndef GP_HSA_PROLOGUE
#define GP_HSA_PROLOGUE 6
#endif

typedef struct {
	uint64_t handle;
} hsa_signal_t;
typedef int64_t hsa_signal_value_t;

/* ROCR runtime/hsa-runtime/inc/amd_hsa_signal.h */
typedef struct __attribute__((aligned(64))) {
	int64_t kind;
	union {
		volatile int64_t value;
		volatile uint64_t *hardware_doorbell_ptr;
	};
	uint64_t event_mailbox_ptr;
	uint32_t event_id;
	uint32_t reserved1;
	uint64_t start_ts;
	uint64_t end_ts;
	uint64_t queue_ptr;
	uint32_t reserved3[2];
} amd_signal_t;
_Static_assert(sizeof(amd_signal_t) == 64, "amd_signal_t is 64 bytes");
_Static_assert(offsetof(amd_signal_t, queue_ptr) == 48, "queue_ptr at +48");

static void store(hsa_signal_t s, hsa_signal_value_t v, int order)
{
	amd_signal_t *sig = (amd_signal_t *)(uintptr_t)s.handle;

	if (sig->kind == -1 || sig->kind == -2)
		__atomic_store_n(sig->hardware_doorbell_ptr, (uint64_t)v, order);
	else
		__atomic_store_n(&sig->value, v, order);
}

static void store_screlease(hsa_signal_t s, hsa_signal_value_t v)
{
	store(s, v, __ATOMIC_RELEASE);
}

static void store_relaxed(hsa_signal_t s, hsa_signal_value_t v)
{
	store(s, v, __ATOMIC_RELAXED);
}

/* ROCR's CoreApiTable as far as the two stores: their slots where ROCR has them. */
struct api_table {
	void *before[0x158 / sizeof(void *)];
	void (*hsa_signal_store_relaxed_fn)(hsa_signal_t, hsa_signal_value_t);   /* +0x158 */
	void (*hsa_signal_store_screlease_fn)(hsa_signal_t, hsa_signal_value_t); /* +0x160 */
};
_Static_assert(offsetof(struct api_table, hsa_signal_store_relaxed_fn) == 0x158, "ROCR's table offset");
_Static_assert(offsetof(struct api_table, hsa_signal_store_screlease_fn) == 0x160, "ROCR's table offset");
static struct api_table core_api = {.hsa_signal_store_relaxed_fn = store_relaxed,
				    .hsa_signal_store_screlease_fn = store_screlease};
/* Not const, like ROCR's (tools may replace it); hidden, so the entry loads it
 * RIP-relative in one instruction, as ROCR's does (no GOT). */
__attribute__((visibility("hidden"), used)) struct api_table *gp_core_api_table = &core_api;

#if GP_HSA_PROLOGUE >= 6
#define GP_ENDBR "endbr64\n"
#else
#define GP_ENDBR ""
#endif

#define GP_ENTRY(name, slot)                                   \
	".globl " #name "\n"                                   \
	".type " #name ", @function\n"                         \
	".p2align 4\n" #name ":\n" GP_ENDBR                    \
	"mov gp_core_api_table(%rip), %rax\n"                  \
	"jmp *" #slot "(%rax)\n"                               \
	".size " #name ", .-" #name "\n"

__asm__(".text\n"
	GP_ENTRY(hsa_signal_store_relaxed, 0x158)
	GP_ENTRY(hsa_signal_store_screlease, 0x160));
