#include "attach/uprobe_multi.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <iterator>

namespace gp {
namespace {

// union bpf_attr's link_create as of 6.6 (uapi linux/bpf.h): the fields up to
// and including uprobe_multi, at the kernel's offsets.
struct LinkCreateUprobeMulti {
  std::uint32_t prog_fd;
  std::uint32_t target_fd;
  std::uint32_t attach_type;
  std::uint32_t flags;
  std::uint64_t path;
  std::uint64_t offsets;
  std::uint64_t ref_ctr_offsets;
  std::uint64_t cookies;
  std::uint32_t cnt;
  std::uint32_t multi_flags;
  std::uint32_t pid;
};
static_assert(offsetof(LinkCreateUprobeMulti, path) == 16 && offsetof(LinkCreateUprobeMulti, pid) == 56);
static_assert(sizeof(LinkCreateUprobeMulti) <= sizeof(union bpf_attr));

int link_create(int prog_fd, const char* path, const std::uint64_t* offsets, const std::uint64_t* cookies,
                std::uint32_t cnt, pid_t pid) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  LinkCreateUprobeMulti lc{};
  lc.prog_fd = static_cast<std::uint32_t>(prog_fd);
  lc.attach_type = kBpfTraceUprobeMulti;
  lc.path = reinterpret_cast<std::uintptr_t>(path);
  lc.offsets = reinterpret_cast<std::uintptr_t>(offsets);
  lc.cookies = reinterpret_cast<std::uintptr_t>(cookies);
  lc.cnt = cnt;
  lc.pid = static_cast<std::uint32_t>(pid);
  std::memcpy(&attr, &lc, sizeof lc);
  const long fd = ::syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

bool probe() {
  // r0 = 0; exit
  const bpf_insn insns[] = {{BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0}, {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
  LIBBPF_OPTS(bpf_prog_load_opts, lo, .expected_attach_type = static_cast<bpf_attach_type>(kBpfTraceUprobeMulti));
  const int prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, nullptr, "GPL", insns, std::size(insns), &lo);
  if (prog < 0) return false;
  const std::uint64_t offset = 0;
  const int link = link_create(prog, "/", &offset, nullptr, 1, 0);
  if (link >= 0) ::close(link);
  ::close(prog);
  return link == -EBADF;
}

}  // namespace

bool uprobe_multi_filters_by_process(const std::string& kernel_release) {
  unsigned major = 0, minor = 0;
  if (std::sscanf(kernel_release.c_str(), "%u.%u", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 10);
}

bool uprobe_multi_supported() {
  static const bool supported = [] {
    utsname u{};
    return ::uname(&u) == 0 && uprobe_multi_filters_by_process(u.release) && probe();
  }();
  return supported;
}

int uprobe_multi_attach(int prog_fd, const std::string& path, std::span<const std::uint64_t> offsets,
                        std::span<const std::uint64_t> cookies, pid_t pid) {
  if (offsets.empty() || cookies.size() != offsets.size()) return -EINVAL;
  return link_create(prog_fd, path.c_str(), offsets.data(), cookies.data(), static_cast<std::uint32_t>(offsets.size()),
                     pid);
}

}  // namespace gp
