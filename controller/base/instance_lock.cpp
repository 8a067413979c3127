#include "base/instance_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "base/error.h"
#include "base/host_paths.h"

namespace gp {

InstanceLock::InstanceLock(const std::string& name) {
  const std::string dir = host_path("/run/gpreempt-bpf");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);  // the open below reports any failure
  const std::string path = dir + "/" + name + ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw UserError(fmt::format("cannot create the lock file {}: {}", path, std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    std::string holder;
    read_text_file(path, holder);
    ::close(fd_);
    fd_ = -1;
    throw UserError(fmt::format(
        "another `gpreempt-bpf {}` is already running (pid {}); stop it first, only one may run at a time",
        name, holder.empty() ? "unknown" : holder));
  }
  std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) == 0 && ::write(fd_, pid.data(), pid.size()) < 0) {
    // the pid is only informational
  }
}

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace gp
