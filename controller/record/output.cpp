#include "record/output.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/error.h"

namespace gp::record {

PendingOutput::PendingOutput(std::string path) : path_(std::move(path)) {
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd >= 0) {
    created_ = true;
  } else if (errno == EEXIST) {
    fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);  // no O_TRUNC: untouched until the writer opens it
  }
  if (fd < 0) throw UserError(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
  ::close(fd);
}

PendingOutput::~PendingOutput() {
  if (created_ && !keep_) ::unlink(path_.c_str());
}

}  // namespace gp::record
