// The controller's side of the KFD debug API (AMDKFD_IOC_DBG_TRAP, KFD >= 1.13).
//
// KfdClient is the seam between the preemption state machine and the kernel:
// KfdDevice issues the real ioctls on the controller's own /dev/kfd, unit tests
// use a fake. Every call returns the ioctl's result the kernel way: >= 0 on
// success (SUSPEND/RESUME: the number of queues handled), -errno on failure.
//
// Who may call: the kernel checks ptrace_parent(target leader) == current for
// every op, so a KfdDevice call must run on the thread that PTRACE_SEIZEd the
// target (see controller/preempt/ptrace_tracer.h); nothing here enforces that.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bpf/kfd_uapi.h"
#include "host/kfd_version.h"

namespace gp {

// What QUERY_DEBUG_EVENT reported: the raised exception bits of the first
// source (queue, device, then process) with a pending subscribed exception.
struct DebugEvent {
  std::uint64_t status = 0;
  std::uint32_t gpu_id = 0;
  std::uint32_t queue_id = 0;
};

class KfdClient {
 public:
  virtual ~KfdClient() = default;

  virtual int get_version(KfdVersion* out) = 0;
  virtual int dbg_enable(pid_t pid, std::uint64_t exception_mask, int dbg_fd,
                         gp_kfd_runtime_info* rinfo) = 0;
  virtual int dbg_disable(pid_t pid) = 0;
  virtual int send_runtime_event(pid_t pid, std::uint64_t exception_mask) = 0;
  // clear_mask: bits to clear on the reported source. -EAGAIN: nothing pending.
  virtual int query_debug_event(pid_t pid, std::uint64_t clear_mask, DebugEvent* out) = 0;
  // QUERY_EXCEPTION_INFO(EC_PROCESS_RUNTIME): the target's runtime_info at the
  // time of the pending runtime event; clear=true clears that event.
  // -ENODATA when no runtime event is pending.
  virtual int query_runtime_info(pid_t pid, bool clear, gp_kfd_runtime_info* out) = 0;
  // Returns the number of queues the process has (may exceed out->size() on
  // input, in which case only the first entries were copied and cleared).
  virtual int get_queue_snapshot(pid_t pid, std::uint64_t clear_mask,
                                 std::vector<gp_kfd_queue_snapshot_entry>* out) = 0;
  // qids is rewritten in place by the kernel: per-entry ERROR/INVALID bits.
  virtual int suspend_queues(pid_t pid, std::span<std::uint32_t> qids, std::uint32_t grace_period,
                             std::uint64_t clear_mask) = 0;
  virtual int resume_queues(pid_t pid, std::span<std::uint32_t> qids) = 0;
};

// The real client: owns an fd on /dev/kfd (which gives the controller its own
// kfd_process, as the kernel requires for DBG_TRAP callers).
class KfdDevice final : public KfdClient {
 public:
  // Opens path and checks GET_VERSION >= 1.13. Throws UserError with what
  // to do when the device is missing, refuses the open, or has no debug API.
  static std::unique_ptr<KfdDevice> open(const std::string& path = "/dev/kfd");
  ~KfdDevice() override;
  KfdDevice(const KfdDevice&) = delete;
  KfdDevice& operator=(const KfdDevice&) = delete;

  const KfdVersion& version() const { return version_; }

  int get_version(KfdVersion* out) override;
  int dbg_enable(pid_t pid, std::uint64_t exception_mask, int dbg_fd,
                 gp_kfd_runtime_info* rinfo) override;
  int dbg_disable(pid_t pid) override;
  int send_runtime_event(pid_t pid, std::uint64_t exception_mask) override;
  int query_debug_event(pid_t pid, std::uint64_t clear_mask, DebugEvent* out) override;
  int query_runtime_info(pid_t pid, bool clear, gp_kfd_runtime_info* out) override;
  int get_queue_snapshot(pid_t pid, std::uint64_t clear_mask,
                         std::vector<gp_kfd_queue_snapshot_entry>* out) override;
  int suspend_queues(pid_t pid, std::span<std::uint32_t> qids, std::uint32_t grace_period,
                     std::uint64_t clear_mask) override;
  int resume_queues(pid_t pid, std::span<std::uint32_t> qids) override;

 private:
  explicit KfdDevice(int fd) : fd_(fd) {}
  int dbg_trap(gp_kfd_dbg_trap_args* args);

  int fd_ = -1;
  KfdVersion version_;
};

// Per-entry result bits of SUSPEND/RESUME (the kernel rewrites each qid).
enum class QueueOutcome : std::uint8_t { Done, Invalid, Error };
inline QueueOutcome queue_outcome(std::uint32_t entry) {
  if (entry & GP_KFD_DBG_QUEUE_ERROR_MASK) return QueueOutcome::Error;
  if (entry & GP_KFD_DBG_QUEUE_INVALID_MASK) return QueueOutcome::Invalid;
  return QueueOutcome::Done;
}
inline std::uint32_t queue_entry_qid(std::uint32_t entry) {
  return entry & ~(GP_KFD_DBG_QUEUE_ERROR_MASK | GP_KFD_DBG_QUEUE_INVALID_MASK);
}

std::string_view runtime_state_name(std::uint32_t state);

// Throws UserError, saying what still works, when v has no DBG_TRAP API.
void require_debug_api(const KfdVersion& v);  // "disabled", "enabled", "busy", "error"

}  // namespace gp
