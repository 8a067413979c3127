// gpreempt-bpf ctl suspend|resume|status: one request to a running
// `preempt --serve` or `agent --socket`, its reply printed, exit 0 on "ok".
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "base/unique_fd.h"
#include "cli/commands.h"
#include "preempt/protocol.h"

namespace gp::cli {

namespace {

struct CtlOptions {
  std::string action;
  std::string socket_path;
  std::string holder = "ctl";
  std::optional<std::uint32_t> gpu;  // --gpu: one GPU of an agent
  int timeout_ms = 30000;
};

std::string connect_failure(const std::string& path, int err) {
  switch (err) {
    case ENOENT:
      return fmt::format("no control socket at {}: start `sudo gpreempt-bpf preempt --serve --socket {} "
                         "--offline-pid PID` or `sudo gpreempt-bpf agent --policy FILE --socket {}` first",
                         path, path, path);
    case ECONNREFUSED:
      return fmt::format("nothing listens on {} (a socket left by a server that was killed?)", path);
    case EACCES:
      return fmt::format("permission denied on {}: run ctl as root, or start the server with "
                         "--socket-mode 0660/0666",
                         path);
    default:
      return fmt::format("cannot connect to {}: {}", path, std::strerror(err));
  }
}

std::string round_trip(const CtlOptions& o, const std::string& request) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (o.socket_path.empty() || o.socket_path.size() >= sizeof(addr.sun_path))
    throw UserError(fmt::format("--socket {}: not a usable socket path", o.socket_path), 2);
  std::memcpy(addr.sun_path, o.socket_path.c_str(), o.socket_path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0 || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0)
    throw UserError(connect_failure(o.socket_path, errno));
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
    throw UserError(fmt::format("{}: the server closed the connection", o.socket_path));
  std::string reply;
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    int n = ::poll(&p, 1, o.timeout_ms);
    if (n == 0) throw UserError(fmt::format("no reply from {} within {} ms", o.socket_path, o.timeout_ms));
    if (n < 0 && errno == EINTR) continue;
    char buf[1024];
    ssize_t r = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (r <= 0) break;
    reply.append(buf, static_cast<std::size_t>(r));
    if (reply.find('\n') != std::string::npos) break;
  }
  if (reply.empty()) throw UserError(fmt::format("{}: the server closed the connection without a reply", o.socket_path));
  return reply.substr(0, reply.find('\n'));
}

int run_ctl(const CtlOptions& o) {
  auto kind = o.action == "suspend"  ? ControlRequest::Kind::Suspend
              : o.action == "resume" ? ControlRequest::Kind::Resume
                                     : ControlRequest::Kind::Status;
  if (kind != ControlRequest::Kind::Status && !valid_holder(o.holder))
    throw UserError(fmt::format("--holder {}: one word of letters, digits, '.', '_', '-'", o.holder), 2);
  auto line = round_trip(o, format_request(kind, o.holder, o.gpu));
  auto reply = parse_reply(line);
  if (!reply.ok) throw UserError(fmt::format("{} refused: {}", o.action, reply.error));
  if (kind == ControlRequest::Kind::Status) {
    for (const auto& [k, v] : reply.fields) fmt::print("{:<22} {}\n", k, v);
  } else {
    fmt::print("{}\n", line.substr(3));
  }
  return 0;
}

}  // namespace

void add_ctl(CLI::App& app, Selected& sel) {
  auto o = std::make_shared<CtlOptions>();
  auto* cmd = app.add_subcommand("ctl", "Claim/release the GPU from a running `preempt --serve` or `agent`, or show its status");
  cmd->add_option("action", o->action, "suspend | resume | status")
      ->required()
      ->check(CLI::IsMember({"suspend", "resume", "status"}));
  cmd->add_option("--socket", o->socket_path, "the server's control socket")->required();
  cmd->add_option("--holder", o->holder, "whose claim this is (claims nest per holder)")->capture_default_str();
  cmd->add_option("--gpu", o->gpu, "the KFD gpu_id of one GPU (an agent's socket; default: every GPU)");
  cmd->add_option("--timeout-ms", o->timeout_ms, "how long to wait for the reply")->capture_default_str();
  cmd->callback([o, &sel] { sel.run = [o] { return run_ctl(*o); }; });
}

}  // namespace gp::cli
