#include "host/preflight.h"

#include <fmt/format.h>

#include "base/error.h"
#include "base/host_paths.h"

namespace gp {

std::vector<Problem> tracing_problems(const HostFacts& f, const std::string& btf_path) {
  std::vector<Problem> out;
  if (!f.root)
    out.push_back({"not running as root",
                   "loading BPF programs and kprobes needs CAP_BPF and CAP_PERFMON: run it with sudo"});
  if (!f.amdgpu_loaded) {
    out.push_back({"the amdgpu driver is not loaded (no /sys/module/amdgpu): this host has no AMD GPU driver to trace",
                   "on a host with an AMD GPU run `modprobe amdgpu`; without one, watch the real driver in a VM: scripts/vm/demo.sh"});
    return out;  // the BTF and symbol checks below all depend on amdgpu
  }
  if (!btf_path.empty()) {
    if (!path_exists(btf_path))
      out.push_back({fmt::format("--btf {}: no such file", btf_path),
                     "pass a BTF file that covers vmlinux and amdgpu (see `gpreempt-bpf doctor`)"});
    return out;
  }
  if (!f.vmlinux_btf)
    out.push_back({"this kernel has no BTF (/sys/kernel/btf/vmlinux is missing)",
                   "CO-RE needs a kernel built with CONFIG_DEBUG_INFO_BTF=y, or pass --btf FILE"});
  if (!f.amdgpu_btf)
    out.push_back({"amdgpu has no BTF (/sys/kernel/btf/amdgpu is missing; typical of amdgpu-dkms builds)",
                   "generate it from the module's debug info with pahole (steps: `gpreempt-bpf doctor`) and pass --btf FILE"});
  return out;
}

void require_tracing_host(const HostFacts& f, const std::string& btf_path) {
  auto problems = tracing_problems(f, btf_path);
  if (problems.empty()) return;
  throw UserError(fmt::format("{}; {}", problems.front().what, problems.front().fix));
}

}  // namespace gp
