#include "tracing/live_sessions.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>

#include "base/host_paths.h"
#include "base/unique_fd.h"
#include "bpf/events.h"
#include "tracing/percpu_sum.h"

namespace gp {

namespace {

constexpr const char* kLostMapName = "gp_lost";

std::vector<LostMap> read_lost_maps(std::string* error) {
  std::vector<LostMap> out;
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) {
    *error = "cannot tell the number of possible CPUs";
    return out;
  }
  std::uint32_t id = 0;
  int rc;
  while ((rc = bpf_map_get_next_id(id, &id)) == 0) {
    UniqueFd fd(bpf_map_get_fd_by_id(id));
    if (fd.get() < 0) continue;  // freed since, or not ours to open
    bpf_map_info info{};
    std::uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) continue;
    if (std::strcmp(info.name, kLostMapName) != 0 || info.type != BPF_MAP_TYPE_PERCPU_ARRAY ||
        info.value_size != sizeof(std::uint64_t) || info.max_entries != GP_LOST_SLOTS)
      continue;
    out.push_back({id, sum_percpu_slot(fd.get(), GP_LOST_RINGBUF, ncpus),
                   sum_percpu_slot(fd.get(), GP_LOST_STASH, ncpus)});
  }
  if (rc == -EPERM || (rc != 0 && errno == EPERM)) *error = "listing BPF maps needs root (CAP_SYS_ADMIN)";
  return out;
}

// "map_id:\t12" in /proc/PID/fdinfo/FD of a BPF map fd.
std::uint32_t fdinfo_map_id(const std::string& path) {
  std::string text;
  if (!read_text_file(path, text)) return 0;
  const auto at = text.find("map_id:");
  if (at == std::string::npos) return 0;
  return static_cast<std::uint32_t>(std::strtoul(text.c_str() + at + 7, nullptr, 10));
}

std::vector<std::pair<std::uint32_t, pid_t>> map_holders(const std::set<std::uint32_t>& wanted) {
  std::vector<std::pair<std::uint32_t, pid_t>> out;
  const std::string proc = host_path("/proc");
  DIR* d = ::opendir(proc.c_str());
  if (!d) return out;
  while (const dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end) continue;
    const std::string fd_dir = fmt::format("{}/{}/fd", proc, pid);
    DIR* fds = ::opendir(fd_dir.c_str());
    if (!fds) continue;
    while (const dirent* f = ::readdir(fds)) {
      if (f->d_name[0] == '.') continue;
      char target[64] = {};
      const auto n = ::readlink((fd_dir + "/" + f->d_name).c_str(), target, sizeof(target) - 1);
      if (n <= 0 || std::string_view(target, static_cast<std::size_t>(n)) != "anon_inode:bpf-map") continue;
      const auto id = fdinfo_map_id(fmt::format("{}/{}/fdinfo/{}", proc, pid, f->d_name));
      if (wanted.count(id)) out.emplace_back(id, static_cast<pid_t>(pid));
    }
    ::closedir(fds);
  }
  ::closedir(d);
  return out;
}

std::string command_of(pid_t pid) {
  std::string raw;
  if (pid <= 0 || !read_text_file(host_path(fmt::format("/proc/{}/cmdline", pid)), raw)) return {};
  // argv[0] (basename) and the subcommand: enough to tell watch from preempt.
  std::vector<std::string> argv;
  std::size_t start = 0;
  while (start < raw.size() && argv.size() < 2) {
    auto nul = raw.find('\0', start);
    if (nul == std::string::npos) nul = raw.size();
    argv.push_back(raw.substr(start, nul - start));
    start = nul + 1;
  }
  if (argv.empty()) return {};
  auto slash = argv[0].rfind('/');
  std::string cmd = slash == std::string::npos ? argv[0] : argv[0].substr(slash + 1);
  if (argv.size() > 1) cmd += " " + argv[1];
  return cmd;
}

}  // namespace

std::vector<LiveSession> group_live_sessions(const std::vector<LostMap>& maps,
                                             const std::vector<std::pair<std::uint32_t, pid_t>>& holders,
                                             pid_t self) {
  std::map<std::uint32_t, pid_t> owner;  // first holder other than self
  for (const auto& [id, pid] : holders)
    if (pid != self && !owner.count(id)) owner[id] = pid;
  std::map<pid_t, LiveSession> by_pid;
  for (const auto& m : maps) {
    const auto it = owner.find(m.id);
    const pid_t pid = it == owner.end() ? 0 : it->second;
    auto& s = by_pid[pid];
    s.pid = pid;
    s.map_ids.push_back(m.id);
    s.lost_ringbuf += m.ringbuf;
    s.lost_stash += m.stash;
  }
  std::vector<LiveSession> out;
  for (auto& [pid, s] : by_pid) out.push_back(std::move(s));
  return out;
}

std::vector<LiveSession> find_live_sessions(std::string* error) {
  const auto maps = read_lost_maps(error);
  std::set<std::uint32_t> ids;
  for (const auto& m : maps) ids.insert(m.id);
  auto sessions = group_live_sessions(maps, ids.empty() ? decltype(map_holders(ids)){} : map_holders(ids), ::getpid());
  for (auto& s : sessions) s.command = command_of(s.pid);
  return sessions;
}

}  // namespace gp
