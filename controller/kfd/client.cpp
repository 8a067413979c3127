#include "kfd/client.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/error.h"
#include "trace/event.h"

namespace gp {

namespace {

static_assert(sizeof(gp_kfd_dbg_trap_args) == 32, "kfd_ioctl_dbg_trap_args is 32 bytes");
static_assert(sizeof(gp_kfd_queue_snapshot_entry) == 64, "kfd_queue_snapshot_entry is 64 bytes");
static_assert(sizeof(gp_kfd_runtime_info) == 16, "kfd_runtime_info is 16 bytes");

int ioctl_retry(int fd, unsigned long request, void* arg) {
  for (;;) {
    if (::ioctl(fd, request, arg) >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

std::string open_failure_message(const std::string& path, int err) {
  switch (err) {
    case ENOENT:
      return fmt::format("{} does not exist: the amdgpu driver (with KFD) is not loaded on this "
                         "host. Load amdgpu, or run preempt on a machine with an AMD GPU.",
                         path);
    case EACCES:
    case EPERM:
      return fmt::format("cannot open {}: permission denied. Run preempt as root (sudo).", path);
    case EINVAL:
      return fmt::format("cannot open {}: the kernel refused to create a KFD context (EINVAL). "
                         "Newer kernels do this when KFD has no GPU node (dmesg: \"no gpu node\"); "
                         "preempt needs a host with an AMD GPU.",
                         path);
    default:
      return fmt::format("cannot open {}: {}", path, std::strerror(err));
  }
}

}  // namespace

std::string_view runtime_state_name(std::uint32_t state) {
  switch (state) {
    case GP_KFD_RUNTIME_DISABLED: return "disabled";
    case GP_KFD_RUNTIME_ENABLED: return "enabled";
    case GP_KFD_RUNTIME_ENABLED_BUSY: return "busy";
    case GP_KFD_RUNTIME_ENABLED_ERROR: return "error";
  }
  return "unknown";
}

std::unique_ptr<KfdDevice> KfdDevice::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw UserError(open_failure_message(path, errno));
  std::unique_ptr<KfdDevice> dev(new KfdDevice(fd));
  if (int r = dev->get_version(&dev->version_); r < 0)
    throw UserError(fmt::format("{}: GET_VERSION failed ({}); is this the KFD device?", path,
                                     errno_name(r)));
  require_debug_api(dev->version_);
  return dev;
}

void require_debug_api(const KfdVersion& v) {
  if (v.has_debug_api()) return;
  throw UserError(fmt::format(
      "this kernel's KFD {}.{} has no debug API (needs >= 1.{}: a newer kernel or ROCm 6 amdgpu-dkms, see docs/kernels.md); "
      "preempt cannot suspend queues here, watch still works",
      v.major, v.minor, GP_KFD_DEBUG_API_MINOR));
}

KfdDevice::~KfdDevice() {
  if (fd_ >= 0) ::close(fd_);
}

int KfdDevice::get_version(KfdVersion* out) {
  gp_kfd_get_version_args args{};
  int r = ioctl_retry(fd_, GP_KFD_IOC_GET_VERSION, &args);
  if (r < 0) return r;
  *out = {args.major_version, args.minor_version};
  return 0;
}

// DBG_TRAP returns a count for SUSPEND/RESUME, so the ioctl's own return value
// is the result. EINTR is retried: every op is either idempotent or (SUSPEND,
// RESUME) counts already-done queues as done.
int KfdDevice::dbg_trap(gp_kfd_dbg_trap_args* args) {
  for (;;) {
    int r = ::ioctl(fd_, GP_KFD_IOC_DBG_TRAP, args);
    if (r >= 0) return r;
    if (errno != EINTR) return -errno;
  }
}

int KfdDevice::dbg_enable(pid_t pid, std::uint64_t exception_mask, int dbg_fd,
                          gp_kfd_runtime_info* rinfo) {
  gp_kfd_dbg_trap_args a{};
  a.pid = static_cast<gp_u32>(pid);
  a.op = GP_KFD_DBG_TRAP_ENABLE;
  a.enable.exception_mask = exception_mask;
  a.enable.rinfo_ptr = reinterpret_cast<gp_u64>(rinfo);
  a.enable.rinfo_size = sizeof(*rinfo);
  a.enable.dbg_fd = static_cast<gp_u32>(dbg_fd);
  return dbg_trap(&a);
}

int KfdDevice::dbg_disable(pid_t pid) {
  gp_kfd_dbg_trap_args a{};
  a.pid = static_cast<gp_u32>(pid);
  a.op = GP_KFD_DBG_TRAP_DISABLE;
  return dbg_trap(&a);
}

int KfdDevice::send_runtime_event(pid_t pid, std::uint64_t exception_mask) {
  gp_kfd_dbg_trap_args a{};
  a.pid = static_cast<gp_u32>(pid);
  a.op = GP_KFD_DBG_TRAP_SEND_RUNTIME_EVENT;
  a.send_runtime_event.exception_mask = exception_mask;
  return dbg_trap(&a);
}

int KfdDevice::query_debug_event(pid_t pid, std::uint64_t clear_mask, DebugEvent* out) {
  gp_kfd_dbg_trap_args a{};
  a.pid = static_cast<gp_u32>(pid);
  a.op = GP_KFD_DBG_TRAP_QUERY_DEBUG_EVENT;
  a.query_debug_event.exception_mask = clear_mask;
  int r = dbg_trap(&a);
  if (r < 0) return r;
  *out = {a.query_debug_event.exception_mask, a.query_debug_event.gpu_id,
          a.query_debug_event.queue_id};
  return r;
}

int KfdDevice::query_runtime_info(pid_t pid, bool clear, gp_kfd_runtime_info* out) {
  gp_kfd_dbg_trap_args a{};
  a.pid = static_cast<gp_u32>(pid);
  a.op = GP_KFD_DBG_TRAP_QUERY_EXCEPTION_INFO;
  a.query_exception_info.info_ptr = reinterpret_cast<gp_u64>(out);
  a.query_exception_info.info_size = sizeof(*out);
  a.query_exception_info.exception_code = GP_KFD_EC_PROCESS_RUNTIME;
  a.query_exception_info.clear_exception = clear ? 1 : 0;
  return dbg_trap(&a);
}

int KfdDevice::get_queue_snapshot(pid_t pid, std::uint64_t clear_mask,
                                  std::vector<gp_kfd_queue_snapshot_entry>* out) {
  gp_kfd_dbg_trap_args a{};
  a.pid = static_cast<gp_u32>(pid);
  a.op = GP_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT;
  a.queue_snapshot.exception_mask = clear_mask;
  a.queue_snapshot.snapshot_buf_ptr = reinterpret_cast<gp_u64>(out->data());
  a.queue_snapshot.num_queues = static_cast<gp_u32>(out->size());
  a.queue_snapshot.entry_size = sizeof(gp_kfd_queue_snapshot_entry);
  int r = dbg_trap(&a);
  if (r < 0) return r;
  std::uint32_t total = a.queue_snapshot.num_queues;
  if (total < out->size()) out->resize(total);
  return static_cast<int>(total);
}

int KfdDevice::suspend_queues(pid_t pid, std::span<std::uint32_t> qids, std::uint32_t grace_period,
                              std::uint64_t clear_mask) {
  gp_kfd_dbg_trap_args a{};
  a.pid = static_cast<gp_u32>(pid);
  a.op = GP_KFD_DBG_TRAP_SUSPEND_QUEUES;
  a.suspend_queues.exception_mask = clear_mask;
  a.suspend_queues.queue_array_ptr = reinterpret_cast<gp_u64>(qids.data());
  a.suspend_queues.num_queues = static_cast<gp_u32>(qids.size());
  a.suspend_queues.grace_period = grace_period;
  return dbg_trap(&a);
}

int KfdDevice::resume_queues(pid_t pid, std::span<std::uint32_t> qids) {
  gp_kfd_dbg_trap_args a{};
  a.pid = static_cast<gp_u32>(pid);
  a.op = GP_KFD_DBG_TRAP_RESUME_QUEUES;
  a.resume_queues.queue_array_ptr = reinterpret_cast<gp_u64>(qids.data());
  a.resume_queues.num_queues = static_cast<gp_u32>(qids.size());
  return dbg_trap(&a);
}

}  // namespace gp
