#include "attach/trampoline.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <vector>
#include <mutex>

#include <fmt/format.h>

namespace gp {

namespace {

struct Targets {
  std::mutex mu;
  int fd = -1;
  std::map<std::string, std::uint32_t> ids;
};

Targets& targets() {
  static Targets t;
  return t;
}

// libbpf calls this right before bpf_prog_load() of each gp_fexit/gp_fentry
// program it loads (autoload on).
int prepare_load(bpf_program* prog, bpf_prog_load_opts* opts, long /*cookie*/) {
  Targets& t = targets();
  std::lock_guard lock(t.mu);
  auto it = t.ids.find(bpf_program__name(prog));
  if (it == t.ids.end() || t.fd < 0) return -ESRCH;
  opts->attach_btf_obj_fd = static_cast<__u32>(t.fd);
  opts->attach_btf_id = it->second;
  return 0;
}

void register_sections() {
  static std::once_flag once;
  std::call_once(once, [] {
    LIBBPF_OPTS(libbpf_prog_handler_opts, ho, .prog_prepare_load_fn = prepare_load);
    libbpf_register_prog_handler("gp_fexit", BPF_PROG_TYPE_TRACING, BPF_TRACE_FEXIT, &ho);
    libbpf_register_prog_handler("gp_fentry", BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, &ho);
  });
}

bool uses_trampoline(const ProbeStatus& st) {
  return st.mechanism == Mechanism::Fentry || st.mechanism == Mechanism::Fexit;
}

}  // namespace

std::optional<AmdgpuBtf> AmdgpuBtf::open(std::string* why) {
  AmdgpuBtf out;
  __u32 id = 0;
  while (out.fd_ < 0 && bpf_btf_get_next_id(id, &id) == 0) {
    const int fd = bpf_btf_get_fd_by_id(id);
    if (fd < 0) continue;
    char name[64] = {};
    bpf_btf_info info{};
    info.name = reinterpret_cast<std::uintptr_t>(name);
    info.name_len = sizeof name;
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.kernel_btf && std::strcmp(name, "amdgpu") == 0) {
      out.fd_ = fd;
      out.base_ = btf__load_vmlinux_btf();
      out.mod_ = out.base_ ? btf__load_from_kernel_by_id_split(id, out.base_) : nullptr;
    } else {
      close(fd);
    }
  }
  if (out.fd_ < 0) {
    *why = "the kernel holds no amdgpu BTF object";
    return std::nullopt;
  }
  if (!out.mod_) {
    *why = fmt::format("amdgpu's BTF object cannot be read: {}", std::strerror(errno));
    return std::nullopt;
  }
  return std::optional<AmdgpuBtf>(std::move(out));
}

AmdgpuBtf::AmdgpuBtf(AmdgpuBtf&& o) noexcept : fd_(o.fd_), base_(o.base_), mod_(o.mod_) {
  o.fd_ = -1;
  o.base_ = o.mod_ = nullptr;
}

AmdgpuBtf::~AmdgpuBtf() {
  btf__free(mod_);
  btf__free(base_);
  if (fd_ >= 0) close(fd_);
}

std::optional<std::uint32_t> AmdgpuBtf::func_id(const std::string& name) const {
  if (!mod_) return std::nullopt;
  // Search amdgpu's own types only: the split BTF also sees vmlinux's, and
  // vmlinux has an update_queue too (ipc/sem.c).
  const __u32 first = btf__type_cnt(base_);
  const __u32 end = btf__type_cnt(mod_);
  for (__u32 i = first; i < end; ++i) {
    const btf_type* t = btf__type_by_id(mod_, i);
    if (t && btf_is_func(t) && name == btf__name_by_offset(mod_, t->name_off)) return i;
  }
  return std::nullopt;
}

std::string trampoline_probe(int btf_obj_fd, std::uint32_t func_id) {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = BPF_TRACE_FEXIT, .attach_btf_id = func_id,
              .attach_btf_obj_fd = static_cast<__u32>(btf_obj_fd));
  const int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "gp_fexit_probe", "GPL", insns, 2, &o);
  if (fd < 0) return std::strerror(errno);
  close(fd);
  return "";
}

bool trampolines_find_module_functions(const std::string& kernel_release) {
  unsigned major = 0, minor = 0;
  if (std::sscanf(kernel_release.c_str(), "%u.%u", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 3);
}

std::map<std::string, std::uint32_t> choose_trampolines(
    AttachReport& report, const std::function<std::optional<std::uint32_t>(const std::string&)>& func_id,
    bool same_name_ok) {
  std::map<std::string, std::uint32_t> out;
  for (auto& st : report.probes) {
    if (!st.spec.tramp_program || st.spec.tramp == Mechanism::None) continue;
    if (st.resolution != Resolution::Exact && !(st.resolution == Resolution::Address && same_name_ok)) continue;
    const auto id = func_id(st.spec.symbol);
    if (!id) continue;
    st.mechanism = st.spec.tramp;
    out[st.spec.tramp_program] = *id;
  }
  return out;
}

void revert_to_kprobes(AttachReport& report) {
  for (auto& st : report.probes)
    if (uses_trampoline(st)) st.mechanism = st.spec.retprobe ? Mechanism::Kretprobe : Mechanism::Kprobe;
}

std::map<std::string, std::string> mechanisms_by_symbol(const AttachReport& report, bool attached_only,
                                                        const std::string& group) {
  std::map<std::string, std::vector<Mechanism>> seen;
  for (const auto& st : report.probes) {
    if (!group.empty() && st.group != group) continue;
    if (attached_only ? !st.attached : st.resolution == Resolution::Missing) continue;
    auto& v = seen[st.spec.symbol];
    if (std::find(v.begin(), v.end(), st.mechanism) == v.end()) v.push_back(st.mechanism);
  }
  std::map<std::string, std::string> out;
  for (auto& [sym, v] : seen) {
    std::sort(v.begin(), v.end());  // enum order: kprobe, kretprobe, fentry, fexit
    std::string s;
    for (Mechanism m : v) {
      if (!s.empty()) s += '+';
      s += to_string(m);
    }
    out[sym] = s;
  }
  return out;
}

void set_trampoline_targets(int btf_obj_fd, std::map<std::string, std::uint32_t> program_ids) {
  register_sections();
  Targets& t = targets();
  std::lock_guard lock(t.mu);
  t.fd = btf_obj_fd;
  t.ids = std::move(program_ids);
}

}  // namespace gp
