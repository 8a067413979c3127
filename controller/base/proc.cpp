#include "base/proc.h"

#include <signal.h>

#include <cerrno>
#include <charconv>
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
