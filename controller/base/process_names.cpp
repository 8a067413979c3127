#include "base/process_names.h"

#include <signal.h>

#include <cerrno>

#include "base/host_paths.h"

namespace gp {

const std::string& ProcessNames::comm(std::uint32_t pid, std::string_view fallback) {
  auto it = cache_.find(pid);
  if (it != cache_.end()) return it->second;
  std::string name;
  if (!read_text_file(host_path("/proc/" + std::to_string(pid) + "/comm"), name) || name.empty())
    name = std::string(fallback);
  return cache_.emplace(pid, std::move(name)).first->second;
}

bool process_exists(std::uint32_t pid) {
  if (pid == 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace gp
