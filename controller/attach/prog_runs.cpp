#include "attach/prog_runs.h"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>

namespace gp {

ProgRunCounter::ProgRunCounter() {
  stats_fd_ = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd_ < 0)
    throw std::runtime_error(fmt::format("cannot turn on BPF run-time statistics (BPF_ENABLE_STATS): {}",
                                         std::strerror(errno)));
}

ProgRunCounter::~ProgRunCounter() {
  if (stats_fd_ >= 0) ::close(stats_fd_);
}

namespace {

// /proc/self/fdinfo/N of a BPF program fd has a "prog_id:" line; other fds do not.
bool is_prog_fd(const std::string& fdinfo_path) {
  std::ifstream in(fdinfo_path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("prog_id:", 0) == 0) return true;
  return false;
}

// The kernel keeps only 15 characters of a program's name, and ours collide
// there (cause_dbg_suspend vs cause_dbg_suspend_ret): the full name is that of
// the program's main function in the object's BTF (func_info[0]).
std::string full_name(int fd, const bpf_prog_info& info, std::map<__u32, btf*>& btfs) {
  if (!info.btf_id || !info.nr_func_info) return info.name;
  bpf_func_info fi{};
  bpf_prog_info again{};
  again.nr_func_info = 1;
  again.func_info_rec_size = sizeof(fi);
  again.func_info = reinterpret_cast<__u64>(&fi);
  __u32 len = sizeof(again);
  if (bpf_obj_get_info_by_fd(fd, &again, &len) != 0) return info.name;
  auto [it, fresh] = btfs.try_emplace(info.btf_id, nullptr);
  if (fresh) {
    it->second = btf__load_from_kernel_by_id(info.btf_id);
    if (libbpf_get_error(it->second)) it->second = nullptr;
  }
  if (!it->second) return info.name;
  const btf_type* t = btf__type_by_id(it->second, fi.type_id);
  const char* name = t ? btf__name_by_offset(it->second, t->name_off) : nullptr;
  return name && *name ? name : info.name;
}

}  // namespace

std::map<std::string, std::uint64_t> ProgRunCounter::counts() const {
  std::map<std::string, std::uint64_t> out;
  std::map<__u32, btf*> btfs;  // one per BPF object; loaded once
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return out;
  const int self = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long fd = std::strtol(e->d_name, &end, 10);
    if (*e->d_name == '\0' || *end != '\0' || fd == self || fd == stats_fd_) continue;
    if (!is_prog_fd(fmt::format("/proc/self/fdinfo/{}", fd))) continue;
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(static_cast<int>(fd), &info, &len) != 0) continue;
    out[full_name(static_cast<int>(fd), info, btfs)] += info.run_cnt;
  }
  ::closedir(d);
  for (auto& [id, btf] : btfs) btf__free(btf);
  return out;
}

}  // namespace gp
