#include "record/forkwatch.h"

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace gp::record {

namespace {

// A burst of forks must not overflow the socket between two drains (one
// message is ~100 bytes; SO_RCVBUFFORCE needs CAP_NET_ADMIN, which we have).
constexpr int kRecvBuffer = 4 << 20;

bool send_op(int fd, proc_cn_mcast_op op) {
  // nlmsghdr | cn_msg | op, laid out by hand: cn_msg ends in a flexible array.
  alignas(nlmsghdr) char buf[NLMSG_SPACE(sizeof(cn_msg) + sizeof(proc_cn_mcast_op))] = {};
  auto* nl = reinterpret_cast<nlmsghdr*>(buf);
  nl->nlmsg_len = NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_cn_mcast_op));
  nl->nlmsg_type = NLMSG_DONE;
  auto* cn = static_cast<cn_msg*>(NLMSG_DATA(nl));
  cn->id.idx = CN_IDX_PROC;
  cn->id.val = CN_VAL_PROC;
  cn->len = sizeof(proc_cn_mcast_op);
  std::memcpy(cn->data, &op, sizeof op);
  return ::send(fd, buf, nl->nlmsg_len, 0) == static_cast<ssize_t>(nl->nlmsg_len);
}

}  // namespace

ForkWatch::ForkWatch() {
  fd_ = ::socket(PF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (fd_ < 0) throw ForkWatchError(fmt::format("netlink connector socket: {}", std::strerror(errno)));
  int size = kRecvBuffer;
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = CN_IDX_PROC;
  addr.nl_pid = 0;  // the kernel picks a unique port id
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || !send_op(fd_, PROC_CN_MCAST_LISTEN)) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw ForkWatchError(fmt::format("subscribing to process events: {}", std::strerror(err)));
  }
}

ForkWatch::~ForkWatch() {
  if (fd_ < 0) return;
  send_op(fd_, PROC_CN_MCAST_IGNORE);
  ::close(fd_);
}

bool ForkWatch::drain(const OnFork& on_fork) {
  alignas(nlmsghdr) char buf[8192];
  bool complete = true;
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {  // the kernel dropped messages; later ones still come
        complete = false;
        continue;
      }
      return complete;  // EAGAIN: nothing more queued
    }
    int len = static_cast<int>(n);
    for (auto* nl = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nl, len); nl = NLMSG_NEXT(nl, len)) {
      if (nl->nlmsg_type == NLMSG_ERROR || nl->nlmsg_type == NLMSG_NOOP) continue;
      if (nl->nlmsg_len < NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_event))) continue;
      const auto* cn = static_cast<const cn_msg*>(NLMSG_DATA(nl));
      if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC) continue;
      const auto* ev = reinterpret_cast<const proc_event*>(cn->data);
      if (ev->what != proc_event::PROC_EVENT_FORK) continue;
      const auto& f = ev->event_data.fork;
      if (f.child_pid != f.child_tgid) continue;  // a new thread, not a process
      on_fork(static_cast<std::uint32_t>(f.parent_tgid), static_cast<std::uint32_t>(f.child_tgid));
    }
  }
}

}  // namespace gp::record
