#include "record/tree.h"

#include <charconv>
#include <filesystem>
#include <string>

#include "base/host_paths.h"

namespace gp::record {

namespace {
// Deeper than any real tree; stops a cycle in a (fake or racing) /proc.
constexpr int kMaxDepth = 128;
}  // namespace

ProcessTree::ProcessTree(ParentLookup parent_of) : parent_of_(std::move(parent_of)) {}

void ProcessTree::add_root(std::uint32_t pid) {
  if (members_.insert(pid).second) roots_.push_back(pid);
}

void ProcessTree::add_child(std::uint32_t parent, std::uint32_t child) {
  if (parent != child && members_.count(parent)) members_.insert(child);
}

void ProcessTree::adopt_descendants(const std::vector<std::uint32_t>& pids) {
  for (auto pid : pids) walk(pid);
}

bool ProcessTree::contains(std::uint32_t pid) {
  if (members_.count(pid)) return true;
  if (before_miss_) {
    before_miss_();
    if (members_.count(pid)) return true;
  }
  return !exact_ && walk(pid);
}

// Climbs the parent chain; on reaching a member, every process on the way
// joins (they are all its descendants).
bool ProcessTree::walk(std::uint32_t pid) {
  std::vector<std::uint32_t> path;
  std::uint32_t cur = pid;
  for (int depth = 0; depth < kMaxDepth; ++depth) {
    if (members_.count(cur)) {
      members_.insert(path.begin(), path.end());
      return true;
    }
    if (cur <= 1) return false;  // init (or the swapper): the chain left the tree
    path.push_back(cur);
    auto parent = parent_of_(cur);
    if (!parent || *parent == cur) return false;
    cur = *parent;
  }
  return false;
}

std::optional<std::uint32_t> proc_parent(std::uint32_t pid) {
  std::string stat;
  if (!read_text_file(host_path("/proc/" + std::to_string(pid) + "/stat"), stat)) return std::nullopt;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // parse from the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos || close + 4 >= stat.size()) return std::nullopt;
  const char* p = stat.data() + close + 4;  // past ") S "
  std::uint32_t ppid = 0;
  auto [end, ec] = std::from_chars(p, stat.data() + stat.size(), ppid);
  if (ec != std::errc() || end == p) return std::nullopt;
  return ppid;
}

std::vector<std::uint32_t> proc_pids() {
  std::vector<std::uint32_t> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(host_path("/proc"), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::uint32_t pid = 0;
    auto [p, err] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (err == std::errc() && p == name.data() + name.size()) out.push_back(pid);
  }
  return out;
}

}  // namespace gp::record
