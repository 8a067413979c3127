// Owner pid -> comm, read from /proc once per pid (events carry the acting
// thread's comm, which is a kworker at exit and for eviction work).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace gp {

class ProcessNames {
 public:
  // fallback is used (and cached) when /proc/<pid> is already gone.
  const std::string& comm(std::uint32_t pid, std::string_view fallback = "?");
  void forget(std::uint32_t pid) { cache_.erase(pid); }

 private:
  std::unordered_map<std::uint32_t, std::string> cache_;
};

bool process_exists(std::uint32_t pid);

}  // namespace gp
