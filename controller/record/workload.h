// The workload of `record -- CMD ARGS...`: started after the probes are
// attached (fork + execvp), in the recorder's process group so the terminal's
// Ctrl-C reaches it directly, and waited for without blocking.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace gp::record {

class Workload {
 public:
  // Returns once the child has exec'd. Throws UserError with the exec
  // error (exit code 127 for "not found", 126 otherwise, as a shell does).
  explicit Workload(const std::vector<std::string>& argv);
  // Reaps the child if it already exited; a running workload is left alone.
  ~Workload();
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  pid_t pid() const { return pid_; }
  // Non-blocking: true once the child has exited (and was reaped).
  bool poll_exit();
  bool exited() const { return exited_; }
  // Shell convention: the exit status, or 128 + the signal that killed it.
  int exit_code() const;
  std::string describe_exit() const;  // "exited with status 3", "killed by SIGINT"
  void signal(int sig) const;

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// The shell exit code of a waitpid() status.
int exit_code_of(int wait_status);

}  // namespace gp::record
