#include "host/btf_steps.h"

namespace gp {

// pahole reads the module's DWARF and writes amdgpu's types as split BTF on
// top of the running kernel's vmlinux BTF (the format of
// /sys/kernel/btf/amdgpu); --btf joins it with that vmlinux BTF itself.
// --btf_encode_detached needs pahole 1.22+. pahole cannot read compressed
// modules, hence the copy. DKMS runs `strip -g` on what it builds unless
// dkms.conf sets STRIP (dkms(8)), so its modules usually have no DWARF.
std::string amdgpu_btf_steps() {
  return R"steps(How to trace an amdgpu without BTF: generate its BTF from the module's debug info (as root):
  apt-get install pahole    # pahole 1.22+; Ubuntu and older Debian: apt-get install dwarves
  m=$(modinfo -n amdgpu)
  case $m in *.xz) xz -dc "$m" ;; *.zst) zstd -qdc "$m" ;; *.gz) gzip -dc "$m" ;; *) cat "$m" ;; esac >/tmp/amdgpu.ko
  readelf -S -W /tmp/amdgpu.ko | grep -q '\.debug_info' && echo "debug info: yes" || echo "debug info: NO (see below)"
  pahole -J --btf_base /sys/kernel/btf/vmlinux --btf_encode_detached /tmp/amdgpu.btf /tmp/amdgpu.ko
  gpreempt-bpf doctor --btf /tmp/amdgpu.btf
  gpreempt-bpf watch --btf /tmp/amdgpu.btf
The file holds only amdgpu's types: it is valid for this kernel build and this amdgpu build; redo it after
either changes. No debug info: DKMS strips what it builds unless the package's dkms.conf says STRIP[0]="no";
add that line to /usr/src/amdgpu-*/dkms.conf, rebuild and reinstall the module with dkms, reboot, start again.)steps";
}

}  // namespace gp
