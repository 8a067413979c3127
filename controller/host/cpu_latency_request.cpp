#include "host/cpu_latency_request.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace gp {

CpuLatencyRequest::CpuLatencyRequest(int us, const std::string& path) {
  if (us < 0) return;
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    error_ = errno;
    return;
  }
  // Four bytes are read as a binary s32; any other length as a hex string.
  const std::int32_t value = us;
  if (::write(fd, &value, sizeof(value)) != static_cast<ssize_t>(sizeof(value))) {
    error_ = errno ? errno : EIO;
    ::close(fd);
    return;
  }
  fd_ = fd;
}

CpuLatencyRequest::~CpuLatencyRequest() {
  if (fd_ >= 0) ::close(fd_);
}

long cpu_latency_target(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  std::int32_t value = 0;
  const ssize_t n = ::read(fd, &value, sizeof(value));
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof(value))) return n < 0 ? -err : -EIO;
  return value;
}

}  // namespace gp
