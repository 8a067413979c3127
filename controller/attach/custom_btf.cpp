#include "attach/custom_btf.h"

#include <sys/mman.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/btf.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "base/error.h"

namespace gp {

namespace {

// libbpf returns NULL and sets errno (libbpf 1.0+ error mode).
std::string parse_error(int err) { return err ? std::strerror(err) : "unknown error"; }

const btf_type* skip_modifiers(const btf* b, std::uint32_t id) {
  const btf_type* t = btf__type_by_id(b, id);
  while (t && (btf_is_typedef(t) || btf_is_mod(t))) t = btf__type_by_id(b, t->type);
  return t;
}

bool has_struct(const btf* b, const char* name) {
  return btf__find_by_name_kind(b, name, BTF_KIND_STRUCT) > 0;
}

// amdgpu's struct kfd_process has held `struct task_struct *lead_thread`
// since KFD exists. If the amdgpu types were encoded against another vmlinux
// BTF than the one they are read with, that pointer lands on some other
// vmlinux type: this catches a split file from another kernel build.
bool amdgpu_fits_vmlinux(const btf* b) {
  const int id = btf__find_by_name_kind(b, "kfd_process", BTF_KIND_STRUCT);
  if (id <= 0) return false;
  const btf_type* t = btf__type_by_id(b, static_cast<std::uint32_t>(id));
  const btf_member* m = btf_members(t);
  for (std::uint16_t i = 0; i < btf_vlen(t); ++i, ++m) {
    const char* name = btf__name_by_offset(b, m->name_off);
    if (!name || std::strcmp(name, "lead_thread") != 0) continue;
    const btf_type* p = skip_modifiers(b, m->type);
    if (!p || !btf_is_ptr(p)) return false;
    const btf_type* target = skip_modifiers(b, p->type);
    const char* tname = target ? btf__name_by_offset(b, target->name_off) : nullptr;
    return target && btf_is_struct(target) && tname && std::strcmp(tname, "task_struct") == 0;
  }
  return false;
}

}  // namespace

std::string join_split_btf(const btf* split) {
  const btf* base = btf__base_btf(split);
  __u32 base_size = 0, split_size = 0;
  const auto* b = static_cast<const char*>(btf__raw_data(base, &base_size));
  const auto* s = static_cast<const char*>(btf__raw_data(split, &split_size));
  if (!b || !s) return {};
  btf_header bh{}, sh{};
  std::memcpy(&bh, b, sizeof bh);
  std::memcpy(&sh, s, sizeof sh);
  btf_header h = bh;
  h.hdr_len = sizeof h;
  h.type_off = 0;
  h.type_len = bh.type_len + sh.type_len;
  h.str_off = h.type_len;
  h.str_len = bh.str_len + sh.str_len;
  std::string out;
  out.reserve(sizeof h + h.type_len + h.str_len);
  out.append(reinterpret_cast<const char*>(&h), sizeof h);
  out.append(b + bh.hdr_len + bh.type_off, bh.type_len);
  out.append(s + sh.hdr_len + sh.type_off, sh.type_len);
  out.append(b + bh.hdr_len + bh.str_off, bh.str_len);
  out.append(s + sh.hdr_len + sh.str_off, sh.str_len);
  return out;
}

CustomBtf CustomBtf::load(const std::string& file, const std::string& base_path) {
  CustomBtf c;
  c.file_ = file;
  c.base_path_ = base_path;
  const std::string how = "see `gpreempt-bpf doctor` for how to generate it";
  if (::access(file.c_str(), R_OK) != 0)
    throw UserError(fmt::format("--btf {}: {}; {}", file, std::strerror(errno), how));

  // Standalone first: a split file has no vmlinux types of its own, so it
  // either fails to parse alone or parses without task_struct.
  std::string standalone_error;
  if (btf* alone = btf__parse(file.c_str(), nullptr)) {
    if (has_struct(alone, "task_struct")) {
      c.types_ = alone;
      c.layout_ = Layout::Standalone;
      c.libbpf_path_ = file;
    } else {
      btf__free(alone);
      standalone_error = "it has no vmlinux types";
    }
  } else {
    standalone_error = parse_error(errno);
  }

  if (!c.types_) {
    if (::access(base_path.c_str(), R_OK) != 0)
      throw UserError(fmt::format(
          "--btf {}: not a standalone BTF with vmlinux types ({}), and there is no {} to read it as split "
          "BTF on top of; pass one BTF file that covers vmlinux and amdgpu",
          file, standalone_error, base_path));
    c.base_ = btf__parse(base_path.c_str(), nullptr);
    if (!c.base_)
      throw UserError(fmt::format("cannot read the kernel's BTF {}: {}", base_path, parse_error(errno)));
    c.types_ = btf__parse_split(file.c_str(), c.base_);
    if (!c.types_)
      throw UserError(fmt::format(
          "--btf {}: not BTF that libbpf can read: as standalone BTF: {}; as split BTF on {}: {}. {}",
          file, standalone_error, base_path, parse_error(errno), how));
    c.layout_ = Layout::Split;
  }

  if (!has_struct(c.types_, "kfd_process"))
    throw UserError(fmt::format(
        "--btf {}: has no amdgpu types (no struct kfd_process): generate it from amdgpu.ko, not vmlinux or "
        "another module; {}",
        file, how));
  if (!amdgpu_fits_vmlinux(c.types_))
    throw UserError(fmt::format(
        "--btf {}: its amdgpu types do not match {} vmlinux types (kfd_process.lead_thread is not a "
        "task_struct pointer): it was made for another kernel build; generate it on this host",
        file, c.layout_ == Layout::Split ? base_path + "'s" : "its own"));

  if (c.layout_ == Layout::Split) {
    const std::string joined = join_split_btf(c.types_);
    c.memfd_ = ::memfd_create("gpreempt-bpf-btf", MFD_CLOEXEC);
    if (c.memfd_ < 0 || joined.empty() ||
        ::write(c.memfd_, joined.data(), joined.size()) != static_cast<ssize_t>(joined.size()))
      throw UserError(fmt::format("--btf {}: cannot build the standalone copy for libbpf: {}", file,
                                       std::strerror(errno ? errno : EIO)));
    c.libbpf_path_ = fmt::format("/proc/self/fd/{}", c.memfd_);
  }
  return c;
}

CustomBtf::CustomBtf(CustomBtf&& o) noexcept { *this = std::move(o); }

CustomBtf& CustomBtf::operator=(CustomBtf&& o) noexcept {
  if (this == &o) return *this;
  reset();
  file_ = std::move(o.file_);
  base_path_ = std::move(o.base_path_);
  layout_ = o.layout_;
  libbpf_path_ = std::move(o.libbpf_path_);
  base_ = std::exchange(o.base_, nullptr);
  types_ = std::exchange(o.types_, nullptr);
  memfd_ = std::exchange(o.memfd_, -1);
  return *this;
}

CustomBtf::~CustomBtf() { reset(); }

void CustomBtf::reset() {
  btf__free(types_);
  btf__free(base_);
  if (memfd_ >= 0) ::close(memfd_);
  types_ = base_ = nullptr;
  memfd_ = -1;
}

std::uint32_t CustomBtf::type_count() const { return types_ ? btf__type_cnt(types_) - 1 : 0; }

std::string CustomBtf::describe() const {
  if (layout_ == Layout::Standalone)
    return fmt::format("{}: standalone BTF, {} types (vmlinux and amdgpu)", file_, type_count());
  return fmt::format("{}: amdgpu split BTF, {} types with {}, joined into one standalone BTF for libbpf", file_,
                     type_count(), base_path_);
}

}  // namespace gp
