#include "preempt/control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/error.h"

namespace gp {

namespace {

constexpr std::size_t kMaxLine = 512;

void reply(int fd, const std::string& line) {
  const std::string msg = line + "\n";
  // A client that does not read loses its reply; it never blocks the server.
  [[maybe_unused]] auto n = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

ControlServer::ControlServer(const std::string& path, mode_t mode, std::string_view who, bool* replaced)
    : path_(path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    throw UserError(fmt::format("--socket {}: a path of 1 to {} bytes is needed", path, sizeof(addr.sun_path) - 1), 2);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw UserError(fmt::format("--socket {}: the path already exists and is not a socket; not replacing it "
                                  "(remove it, or choose another path)",
                                  path),
                      2);
    // A live server answers; a socket left by a killed one does not.
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    if (probe >= 0) ::close(probe);
    if (live)
      throw UserError(fmt::format("--socket {}: another server is listening there ({}?); stop it "
                                  "first, or choose another path",
                                  path, who));
    ::unlink(path.c_str());
    if (replaced) *replaced = true;
  }
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    const int e = errno;
    if (fd_ >= 0) ::close(fd_);
    throw UserError(fmt::format("cannot create the control socket {}: {}", path, std::strerror(e)));
  }
  if (::chmod(path.c_str(), mode) < 0 || ::listen(fd_, 16) < 0) {
    const int e = errno;
    ::close(fd_);
    ::unlink(path.c_str());
    throw UserError(fmt::format("cannot listen on {}: {}", path, std::strerror(e)));
  }
}

ControlServer::~ControlServer() {
  for (auto& c : clients_) ::close(c.fd);
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

std::vector<int> ControlServer::fds() const {
  std::vector<int> out{fd_};
  for (const auto& c : clients_) out.push_back(c.fd);
  return out;
}

void ControlServer::serve(const std::function<std::string(std::string_view)>& handle) {
  for (;;) {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) break;
    clients_.push_back({c, {}});
  }
  for (auto& c : clients_) {
    char buf[256];
    for (;;) {
      ssize_t n = ::recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      if (n <= 0) {
        ::close(c.fd);
        c.fd = -1;
        break;
      }
      c.buf.append(buf, static_cast<std::size_t>(n));
      for (auto nl = c.buf.find('\n'); nl != std::string::npos; nl = c.buf.find('\n')) {
        const std::string line = c.buf.substr(0, nl);
        c.buf.erase(0, nl + 1);
        reply(c.fd, handle(line));
      }
      if (c.buf.size() > kMaxLine) {
        reply(c.fd, "err request line too long");
        ::close(c.fd);
        c.fd = -1;
        break;
      }
    }
  }
  std::erase_if(clients_, [](const Client& c) { return c.fd < 0; });
}

}  // namespace gp
