#include "hqd/source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "base/error.h"
#include "base/host_paths.h"

namespace gp::hqd {

namespace fs = std::filesystem;

namespace {

bool debugfs_mounted() {
  std::string mounts;
  if (!read_text_file(host_path("/proc/mounts"), mounts)) return false;
  std::istringstream in(mounts);
  std::string dev, dir, type;
  std::string rest;
  while (in >> dev >> dir >> type) {
    if (dir == "/sys/kernel/debug" && type == "debugfs") return true;
    std::getline(in, rest);
  }
  return false;
}

template <typename T>
bool parse_num(std::string_view s, T& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

bool topology_has_gpu() {
  std::error_code ec;
  for (fs::directory_iterator it(host_path("/sys/class/kfd/kfd/topology/nodes"), ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string s;
    std::uint32_t gpu_id = 0;
    if (read_text_file((it->path() / "gpu_id").string(), s) && parse_num(s, gpu_id) && gpu_id != 0) return true;
  }
  return false;
}

}  // namespace

std::map<std::uint32_t, std::uint32_t> read_gfx_target_versions() {
  std::map<std::uint32_t, std::uint32_t> out;
  std::error_code ec;
  for (fs::directory_iterator it(host_path("/sys/class/kfd/kfd/topology/nodes"), ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string s;
    std::uint32_t gpu_id = 0;
    if (!read_text_file((it->path() / "gpu_id").string(), s) || !parse_num(s, gpu_id) || gpu_id == 0) continue;
    if (!read_text_file((it->path() / "properties").string(), s)) continue;
    std::istringstream in(s);
    std::string key;
    std::uint64_t value = 0;
    while (in >> key >> value)
      if (key == "gfx_target_version") out[gpu_id] = static_cast<std::uint32_t>(value);
  }
  return out;
}

void require_hqds_readable() {
  const std::string path = host_path(kHqdsPath);
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM)
      throw UserError(fmt::format("cannot reach {}: {} (debugfs is readable by root only): run as root",
                                  kHqdsPath, std::strerror(err)));
    if (!debugfs_mounted())
      throw UserError(fmt::format("debugfs is not mounted at /sys/kernel/debug, so KFD's HQD dump ({}) cannot "
                                  "be read: mount it with `mount -t debugfs none /sys/kernel/debug`",
                                  kHqdsPath));
    if (!path_exists(host_path("/sys/kernel/debug/kfd")))
      throw UserError("debugfs is mounted but has no kfd/ directory: KFD is not initialised (the amdgpu driver "
                      "is not loaded, or the kernel lacks CONFIG_HSA_AMD / CONFIG_DEBUG_FS): `modprobe amdgpu`");
    throw UserError(fmt::format("{} does not exist: this kernel's KFD does not provide the HQD dump", kHqdsPath));
  }
  if (path_exists(host_path("/sys/class/kfd/kfd/topology/nodes")) && !topology_has_gpu())
    throw UserError(fmt::format("KFD's topology lists no GPU (no node with a gpu_id in "
                                "/sys/class/kfd/kfd/topology/nodes), so there are no hardware queue slots to "
                                "show; {} was not read",
                                kHqdsPath));
}

std::string read_hqds_once() {
  const std::string path = host_path(kHqdsPath);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw UserError(fmt::format("cannot open {}: {}", kHqdsPath, std::strerror(errno)));
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      // kfd_debugfs_hqds_by_device stops at the first failing GPU and the
      // seq_file read returns that error: nothing partial is decoded.
      throw UserError(fmt::format("reading {} failed: {} (the kernel's dump returned an error)", kHqdsPath,
                                  std::strerror(err)));
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

}  // namespace gp::hqd
