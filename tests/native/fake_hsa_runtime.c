/*
 * A stand-in for ROCm's libhsa-runtime64.so.1 in the native tests and the
 * detection benchmark: the two exported signal stores the doorbell uprobes
 * attach to (bpf/doorbell.bpf.c), with ROCR's calling convention and
 * amd_signal_t layout. A doorbell-kind signal's store goes to the word its
 * hardware_doorbell_ptr points at (a GPU's doorbell page on hardware, plain
 * memory here); any other kind's to its value. Nothing else of ROCm is here.
 *
 * Shaped like ROCR's exported entry points (core/common/hsa_table_interface.cpp:
 * each forwards through the API table, coreApiTable->hsa_signal_store_*_fn),
 * so the probed first instruction is a RIP-relative load, as in ROCR: the
 * kernel single-steps it out of line, which is what the uprobe's cost to
 * the online process measured by the benchmark includes.
 */
#include <stddef.h>
#include <stdint.h>

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

struct api_table {
	void (*hsa_signal_store_relaxed_fn)(hsa_signal_t, hsa_signal_value_t);
	void (*hsa_signal_store_screlease_fn)(hsa_signal_t, hsa_signal_value_t);
};
static struct api_table core_api = { store_relaxed, store_screlease };
/* Not const, like ROCR's (tools may replace entries): the compiler must load it. */
struct api_table *volatile core_api_table = &core_api;

__attribute__((visibility("default"))) void hsa_signal_store_screlease(hsa_signal_t s, hsa_signal_value_t v)
{
	core_api_table->hsa_signal_store_screlease_fn(s, v);
}

__attribute__((visibility("default"))) void hsa_signal_store_relaxed(hsa_signal_t s, hsa_signal_value_t v)
{
	core_api_table->hsa_signal_store_relaxed_fn(s, v);
}
