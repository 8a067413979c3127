// ROCR's amd_signal_t (runtime/hsa-runtime/inc/amd_hsa_signal.h), as far as
// the doorbell uprobes read it (bpf/doorbell.h) and the stand-in runtime
// (fake_hsa_runtime.c) stores through it. Shared by the native tests' synthetic
// online process and the VM tier's kfd-client online-target.
#pragma once

#include <cstdint>

namespace gp::test {

struct alignas(64) FakeAmdSignal {
  std::int64_t kind = 0;
  std::uint64_t value_or_doorbell_ptr = 0;  // a doorbell kind's store goes where this points
  std::uint64_t unused[4] = {};
  std::uint64_t queue_ptr = 0;  // +48: the queue's amd_queue_t
  std::uint64_t reserved = 0;
};
static_assert(sizeof(FakeAmdSignal) == 64);
inline constexpr std::int64_t kSignalKindDoorbell = -1, kSignalKindUser = 1;

// hsa_signal_store_screlease / _relaxed: void (hsa_signal_t, hsa_signal_value_t),
// hsa_signal_t being a struct of one uint64_t (passed like one).
using HsaSignalStore = void (*)(std::uint64_t signal_handle, std::int64_t value);

}  // namespace gp::test
