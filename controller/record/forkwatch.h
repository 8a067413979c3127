// Fork edges from the kernel's process events connector (netlink
// NETLINK_CONNECTOR, CN_IDX_PROC; needs CAP_NET_ADMIN and
// CONFIG_PROC_EVENTS). The kernel queues a fork message before the child
// runs, so draining the socket before deciding on an event's pid always
// knows that pid's parent, however short-lived the child was. This is what
// lets `record -- sh -c 'a; b'` keep the events of a and b.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>

namespace gp::record {

class ForkWatchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ForkWatch {
 public:
  using OnFork = std::function<void(std::uint32_t parent_tgid, std::uint32_t child_tgid)>;

  // Subscribes; throws ForkWatchError (with the reason) when the connector
  // is unavailable (not root, another network namespace, no PROC_EVENTS).
  ForkWatch();
  ~ForkWatch();
  ForkWatch(const ForkWatch&) = delete;
  ForkWatch& operator=(const ForkWatch&) = delete;

  // Reads every queued message without blocking and reports each new
  // process (threads are skipped). Returns false if the kernel dropped
  // messages since the last call (socket buffer overflow): the caller's set
  // is no longer exact.
  bool drain(const OnFork& on_fork);
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace gp::record
