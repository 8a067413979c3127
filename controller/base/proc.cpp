#include "base/proc.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "base/host_paths.h"

namespace gp {

namespace {

pid_t to_pid(const std::optional<std::string>& v, pid_t otherwise) {
  if (!v) return otherwise;
  pid_t p = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), p);
  return ec == std::errc() ? p : otherwise;
}

}  // namespace

std::string proc_root() { return host_path("/proc"); }

std::optional<std::string> proc_status_field(pid_t pid, std::string_view key, const std::string& root) {
  std::ifstream in(fmt::format("{}/{}/status", root, pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() <= key.size() || line.compare(0, key.size(), key) != 0 || line[key.size()] != ':') continue;
    const auto b = line.find_first_not_of(" \t", key.size() + 1);
    return b == std::string::npos ? std::string() : line.substr(b);
  }
  return std::nullopt;
}

pid_t thread_group_of(pid_t pid, const std::string& root) { return to_pid(proc_status_field(pid, "Tgid", root), 0); }

pid_t tracer_of(pid_t pid, const std::string& root) { return to_pid(proc_status_field(pid, "TracerPid", root), -1); }

std::optional<std::string> comm_of(pid_t pid, const std::string& root) {
  std::string name;
  if (!read_text_file(fmt::format("{}/{}/comm", root, pid), name)) return std::nullopt;
  return name;
}

std::optional<std::string> proc_file(pid_t pid, std::string_view name, const std::string& root, int* err) {
  const std::string path = fmt::format("{}/{}/{}", root, pid, name);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (err) *err = errno;
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (err) *err = errno;
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::optional<std::string> exe_of(pid_t pid, const std::string& root, int* err) {
  std::error_code ec;
  auto target = std::filesystem::read_symlink(fmt::format("{}/{}/exe", root, pid), ec);
  if (ec) {
    if (err) *err = ec.value();
    return std::nullopt;
  }
  return target.string();
}

std::vector<pid_t> pids_in(const std::string& dir) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    pid_t p = 0;
    auto [end, perr] = std::from_chars(name.data(), name.data() + name.size(), p);
    if (perr == std::errc() && end == name.data() + name.size() && p > 0) out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool process_exists(std::uint32_t pid) {
  if (pid == 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

const std::string& ProcessNames::comm(std::uint32_t pid, std::string_view fallback) {
  auto it = cache_.find(pid);
  if (it != cache_.end()) return it->second;
  auto name = comm_of(static_cast<pid_t>(pid));
  if (!name || name->empty()) name = std::string(fallback);
  return cache_.emplace(pid, std::move(*name)).first->second;
}

}  // namespace gp
