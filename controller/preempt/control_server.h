// The control socket of `preempt --serve` and of the agent: the preempt
// protocol (preempt/protocol.h, with its gpu= selector) on a Unix socket, one
// request line, one reply line. Everything non-blocking: the owner's loop
// polls fds() and calls serve().
//
// The path is checked before anything is attached: a live server on it, or
// a path that is not a socket, is refused; a socket nobody answers on (left
// by a server that was killed) is replaced, so a restart after a crash works.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace gp {

class ControlServer {
 public:
  // Throws UserError (nothing created) when the path cannot be used; `who`
  // names the server a live socket probably belongs to ("a running agent").
  // *replaced is set when a stale socket was removed.
  ControlServer(const std::string& path, mode_t mode, std::string_view who, bool* replaced = nullptr);
  ~ControlServer();  // closes every connection and removes the path
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& path() const { return path_; }
  // The listening socket and every connection: poll them for POLLIN.
  std::vector<int> fds() const;
  // Accepts, reads, answers each complete line with handle(line). Claims
  // outlive a connection (a one-shot `ctl suspend` works).
  void serve(const std::function<std::string(std::string_view)>& handle);

 private:
  struct Client {
    int fd;
    std::string buf;
  };
  std::string path_;
  int fd_ = -1;
  std::vector<Client> clients_;
};

}  // namespace gp
