#include "record/workload.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include <fmt/format.h>

#include "base/error.h"

namespace gp::record {

int exit_code_of(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

Workload::Workload(const std::vector<std::string>& argv) {
  if (argv.empty()) throw UserError("no command after --", 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  // The child reports a failed exec through this pipe; a successful exec
  // closes it (O_CLOEXEC), so the parent's read returns 0.
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0)
    throw UserError(fmt::format("pipe: {}", std::strerror(errno)));
  pid_ = ::fork();
  if (pid_ < 0) {
    const int err = errno;
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    throw UserError(fmt::format("fork: {}", std::strerror(err)));
  }
  if (pid_ == 0) {
    // Our stop handlers are reset by exec; make sure the workload starts
    // with default dispositions and nothing blocked, like from a shell.
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::close(pipefd[0]);
    ::execvp(args[0], args.data());
    const int err = errno;
    ssize_t ignored = ::write(pipefd[1], &err, sizeof err);
    (void)ignored;
    ::_exit(127);
  }
  ::close(pipefd[1]);
  int err = 0;
  ssize_t n;
  do n = ::read(pipefd[0], &err, sizeof err);
  while (n < 0 && errno == EINTR);
  ::close(pipefd[0]);
  if (n == static_cast<ssize_t>(sizeof err)) {
    ::waitpid(pid_, &status_, 0);
    exited_ = true;
    throw UserError(fmt::format("cannot run {}: {}", argv[0], std::strerror(err)), err == ENOENT ? 127 : 126);
  }
}

Workload::~Workload() {
  if (!exited_) poll_exit();
}

bool Workload::poll_exit() {
  if (exited_) return true;
  pid_t r;
  do r = ::waitpid(pid_, &status_, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == pid_) exited_ = true;
  return exited_;
}

int Workload::exit_code() const { return exited_ ? exit_code_of(status_) : 1; }

std::string Workload::describe_exit() const {
  if (!exited_) return "still running";
  if (WIFEXITED(status_)) return fmt::format("exited with status {}", WEXITSTATUS(status_));
  if (WIFSIGNALED(status_)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status_));
    return name ? fmt::format("killed by SIG{}", name) : fmt::format("killed by signal {}", WTERMSIG(status_));
  }
  return "stopped";
}

void Workload::signal(int sig) const {
  if (!exited_ && pid_ > 0) ::kill(pid_, sig);
}

}  // namespace gp::record
