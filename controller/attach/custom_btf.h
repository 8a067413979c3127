// --btf FILE: the types the BPF programs are relocated against when amdgpu
// has no /sys/kernel/btf/amdgpu (amdgpu-dkms builds).
//
// libbpf's bpf_object_open_opts.btf_custom_path replaces the vmlinux BTF and
// turns its module-BTF search off (libbpf 1.1 up to today's master), and it
// parses the file with no base. So what libbpf gets must be ONE standalone
// BTF holding vmlinux and amdgpu types. What users can produce is usually
// amdgpu *split* BTF: `pahole -J --btf_base /sys/kernel/btf/vmlinux` output,
// the format of /sys/kernel/btf/amdgpu. Such a file is joined here with the
// running kernel's vmlinux BTF into a standalone one, kept in a memfd that
// libbpf reads by its /proc/self/fd path (nothing is left on disk).
#pragma once

#include <cstdint>
#include <string>

struct btf;

namespace gp {

class CustomBtf {
 public:
  enum class Layout { Standalone, Split };

  // Reads FILE (raw BTF or an ELF with a .BTF section). A file that is not
  // standalone vmlinux BTF is read as split BTF on top of base_path (the
  // running kernel's /sys/kernel/btf/vmlinux). Throws UserError saying
  // what is wrong with the file and what to do: missing, unreadable, not BTF,
  // no amdgpu types, or made for another kernel build.
  static CustomBtf load(const std::string& file, const std::string& base_path);

  CustomBtf(CustomBtf&& o) noexcept;
  CustomBtf& operator=(CustomBtf&& o) noexcept;
  CustomBtf(const CustomBtf&) = delete;
  CustomBtf& operator=(const CustomBtf&) = delete;
  ~CustomBtf();

  Layout layout() const { return layout_; }
  // What to give libbpf as btf_custom_path: the file itself when standalone,
  // else /proc/self/fd/N of the joined copy (valid while this object lives).
  const std::string& libbpf_path() const { return libbpf_path_; }
  // Every type, vmlinux and amdgpu, for lookups (e.g. btf_function_params).
  const struct btf* types() const { return types_; }
  std::uint32_t type_count() const;
  // One line for doctor and the attach report.
  std::string describe() const;

 private:
  CustomBtf() = default;
  void reset();  // frees the libbpf objects and the memfd
  std::string file_;
  std::string base_path_;
  Layout layout_ = Layout::Standalone;
  std::string libbpf_path_;
  struct btf* base_ = nullptr;   // split only: the vmlinux BTF under types_
  struct btf* types_ = nullptr;
  int memfd_ = -1;
};

// The raw bytes of one standalone BTF equal to split BTF `split` on top of
// its base: base types then split types, base strings then split strings.
// Split BTF numbers its types after the base's and its string offsets after
// the base's string section, so nothing inside a type needs rewriting.
// (libbpf's btf__add_btf refuses split input, and btf__add_type per type
// costs seconds under emulation for vmlinux's ~130k types.)
std::string join_split_btf(const struct btf* split);

}  // namespace gp
