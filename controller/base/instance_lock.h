// One instance per command at a time (two watch sessions would double every
// probe's cost and race on the terminal). flock(2) on a file under
// /run/gpreempt-bpf: released by the kernel however the process ends.
#pragma once

#include <string>

namespace gp {

class InstanceLock {
 public:
  // Throws UserError naming the pid that holds it.
  explicit InstanceLock(const std::string& name);
  ~InstanceLock();
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace gp
