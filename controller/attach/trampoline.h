// BPF trampolines (fentry/fexit) on amdgpu functions: whether this kernel can
// run them, which probes use them, and loading each "gp_fexit"/"gp_fentry"
// program against its function in amdgpu's own BTF object.
//
// Why our own SEC handler: libbpf (1.1, Debian 12) looks an attach target up
// in vmlinux BTF first, and update_queue also exists in ipc/sem.c, so
// SEC("fexit/update_queue") would attach to the SysV semaphore function. The
// handler gives the kernel amdgpu's BTF object fd and type id instead.
#pragma once

#include <bpf/btf.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "attach/probe_status.h"

namespace gp {

// The running kernel's amdgpu BTF object (/sys/kernel/btf/amdgpu as the
// kernel holds it) and its types, split on vmlinux.
class AmdgpuBtf {
 public:
  // nullopt with *why set when the kernel has no amdgpu BTF object or its
  // types cannot be read.
  static std::optional<AmdgpuBtf> open(std::string* why);
  AmdgpuBtf(AmdgpuBtf&& o) noexcept;
  AmdgpuBtf& operator=(AmdgpuBtf&&) = delete;
  AmdgpuBtf(const AmdgpuBtf&) = delete;
  ~AmdgpuBtf();

  int fd() const { return fd_; }
  const btf* types() const { return mod_; }
  std::optional<std::uint32_t> func_id(const std::string& name) const;

 private:
  AmdgpuBtf() = default;
  int fd_ = -1;
  btf* base_ = nullptr;
  btf* mod_ = nullptr;
};

// Loads an empty fexit program on one amdgpu function, like libbpf-tools'
// fentry_can_attach(): "" if the kernel takes it, else why not.
std::string trampoline_probe(int btf_obj_fd, std::uint32_t func_id);

// Whether this kernel finds a module function's address in that module when
// a fentry/fexit program targets the module's BTF. Before Linux 6.3 ("bpf:
// Fix attaching fentry/fexit/fmod_ret/lsm to modules") it took the first
// kallsyms match by name: on 6.1 a fexit on amdgpu's update_queue lands on
// ipc/sem.c's (seen in the VM tier, watch-attach).
bool trampolines_find_module_functions(const std::string& kernel_release);

// Switches every probe that has a trampoline variant to it when its function
// is in amdgpu's BTF (func_id finds it) and kallsyms found it in amdgpu by
// name (Exact), or by address (Address: the name exists outside amdgpu too)
// where same_name_ok (trampolines_find_module_functions); clones and missing
// functions keep kprobes. Returns program -> BTF type id for the programs
// now used.
std::map<std::string, std::uint32_t> choose_trampolines(
    AttachReport& report, const std::function<std::optional<std::uint32_t>(const std::string&)>& func_id,
    bool same_name_ok);

// Back to kprobes for every probe (a trampoline failed to attach).
void revert_to_kprobes(AttachReport& report);

// Per function, how its programs of one group ("lifecycle", "latency"; ""
// = all) run: "fexit", "fentry+fexit", "kprobe", "kprobe+kretprobe"...
// (entry mechanism first); attached probes only, or the plan (doctor).
std::map<std::string, std::string> mechanisms_by_symbol(const AttachReport& report, bool attached_only = true,
                                                        const std::string& group = "");

// The targets the gp_fexit/gp_fentry programs load against (registers the
// SEC handlers on first use). Call before opening the object.
void set_trampoline_targets(int btf_obj_fd, std::map<std::string, std::uint32_t> program_ids);

}  // namespace gp
