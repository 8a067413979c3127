// What this host offers: kernel, BTF, amdgpu, KFD version, scheduler policy,
// ptrace scope, GPUs. Gathered without side effects beyond opening /dev/kfd
// for GET_VERSION. Used by doctor and by every command's preflight.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "host/kfd_version.h"

namespace gp {

struct HostFacts {
  std::string kernel;               // uname -r
  bool root = false;
  bool vmlinux_btf = false;         // /sys/kernel/btf/vmlinux
  bool amdgpu_loaded = false;       // /sys/module/amdgpu
  bool amdgpu_btf = false;          // /sys/kernel/btf/amdgpu
  bool kfd_dev = false;             // /dev/kfd exists
  std::optional<KfdVersion> kfd_version;
  std::string kfd_open_error;       // why /dev/kfd could not be opened or queried
  std::optional<int> sched_policy;  // amdgpu module parameter: 0 HWS, 1 HWS no oversubscription, 2 NO_HWS
  std::optional<int> cwsr_enable;
  std::optional<int> ptrace_scope;  // Yama
  std::vector<std::uint32_t> gpu_ids;  // KFD topology nodes with a GPU
};

HostFacts gather_host_facts();

std::string sched_policy_name(int p);

}  // namespace gp
