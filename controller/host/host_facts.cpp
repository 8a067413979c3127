#include "host/host_facts.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "base/host_paths.h"
#include "bpf/kfd_uapi.h"

namespace gp {

namespace fs = std::filesystem;

namespace {

std::optional<int> read_int(const std::string& path) {
  std::string s;
  if (!read_text_file(path, s)) return std::nullopt;
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc()) return std::nullopt;
  return v;
}

std::vector<std::uint32_t> topology_gpu_ids() {
  std::vector<std::uint32_t> ids;
  std::error_code ec;
  const fs::path nodes = host_path("/sys/class/kfd/kfd/topology/nodes");
  for (fs::directory_iterator it(nodes, ec), end; !ec && it != end; it.increment(ec)) {
    auto id = read_int((it->path() / "gpu_id").string());
    if (id && *id != 0) ids.push_back(static_cast<std::uint32_t>(*id));  // CPU nodes have gpu_id 0
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

void query_kfd(HostFacts& f) {
  const std::string dev = host_path("/dev/kfd");
  f.kfd_dev = path_exists(dev);
  if (!f.kfd_dev) {
    f.kfd_open_error = "/dev/kfd does not exist";
    return;
  }
  int fd = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    f.kfd_open_error = fmt::format("open /dev/kfd: {}", std::strerror(errno));
    return;
  }
  gp_kfd_get_version_args v{};
  if (::ioctl(fd, GP_KFD_IOC_GET_VERSION, &v) == 0)
    f.kfd_version = KfdVersion{v.major_version, v.minor_version};
  else
    f.kfd_open_error = fmt::format("GET_VERSION: {}", std::strerror(errno));
  ::close(fd);
}

}  // namespace

std::string sched_policy_name(int p) {
  switch (p) {
    case 0: return "HWS";
    case 1: return "HWS_NO_OVERSUBSCRIPTION";
    case 2: return "NO_HWS";
  }
  return fmt::format("unknown({})", p);
}

HostFacts gather_host_facts() {
  HostFacts f;
  struct utsname u{};
  if (::uname(&u) == 0) f.kernel = u.release;
  f.root = ::geteuid() == 0;
  f.vmlinux_btf = path_exists(host_path("/sys/kernel/btf/vmlinux"));
  f.amdgpu_loaded = path_exists(host_path("/sys/module/amdgpu"));
  f.amdgpu_btf = path_exists(host_path("/sys/kernel/btf/amdgpu"));
  f.sched_policy = read_int(host_path("/sys/module/amdgpu/parameters/sched_policy"));
  f.cwsr_enable = read_int(host_path("/sys/module/amdgpu/parameters/cwsr_enable"));
  f.ptrace_scope = read_int(host_path("/proc/sys/kernel/yama/ptrace_scope"));
  f.gpu_ids = topology_gpu_ids();
  if (f.amdgpu_loaded) query_kfd(f);
  else f.kfd_open_error = "amdgpu is not loaded";
  return f;
}

}  // namespace gp
