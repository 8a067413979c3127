#include "classify/classifier.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "base/host_paths.h"
#include "base/proc.h"

namespace gp {

namespace {

std::optional<std::uint32_t> real_uid(pid_t pid) {
  auto v = proc_status_field(pid, "Uid");  // "real effective saved fs"
  if (!v) return std::nullopt;
  std::uint32_t uid = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), uid);
  if (ec != std::errc()) return std::nullopt;
  return uid;
}

}  // namespace

Classification classify_process(const Policy& policy, pid_t pid) {
  Classification c;
  c.facts.pid = pid;
  auto comm = comm_of(pid);
  auto uid = real_uid(pid);
  auto cgroup = proc_file(pid, "cgroup");
  if (!comm || !uid) {
    c.gone = true;
    c.rule = "default";
    c.verdict.role = policy.default_role;
    return c;
  }
  c.facts.comm = *comm;
  c.facts.uid = *uid;
  if (cgroup) {
    c.identity = parse_cgroup(*cgroup);
    c.facts.cgroup_path = c.identity.path;
  }
  if (policy.needs_exe()) c.facts.exe = exe_of(pid, proc_root(), &c.exe_errno);
  if (policy.needs_env()) {
    if (auto raw = proc_file(pid, "environ", proc_root(), &c.env_errno)) {
      c.facts.env = parse_environ(*raw);
    } else if (c.env_errno == ESRCH && comm_of(pid)) {
      c.facts.env.emplace();  // a kernel thread: no address space, so no environment
      c.env_errno = 0;
    }
  }
  c.verdict = classify(policy, c.facts);
  c.rule = rule_name(policy, c.verdict.rule);
  return c;
}

std::string verdict_notes(const Policy& policy, const Classification& c) {
  std::vector<std::string> parts;
  if (!c.verdict.also.empty()) {
    std::vector<std::string> also;
    for (int i : c.verdict.also)
      also.push_back(fmt::format("\"{}\" ({})", rule_name(policy, i), to_string(policy.rules[static_cast<std::size_t>(i)].role)));
    parts.push_back(fmt::format("also matches {}: the first matching rule wins", fmt::join(also, ", ")));
  }
  if (c.verdict.env_unknown)
    parts.push_back(fmt::format("environ unreadable ({}): rules on env skipped", std::strerror(c.env_errno)));
  if (c.verdict.exe_unknown)
    parts.push_back(fmt::format("exe unreadable ({}): rules on exe skipped", std::strerror(c.exe_errno)));
  return fmt::format("{}", fmt::join(parts, "; "));
}

std::vector<pid_t> kfd_pids() { return pids_in(host_path("/sys/class/kfd/kfd/proc")); }

std::vector<pid_t> all_pids() { return pids_in(proc_root()); }

std::vector<std::uint32_t> kfd_gpus_of(pid_t pid) {
  std::set<std::uint32_t> gpus;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(host_path(fmt::format("/sys/class/kfd/kfd/proc/{}", pid)), ec)) {
    const std::string name = e.path().filename().string();
    for (std::string_view prefix : {"vram_", "stats_"}) {
      if (name.rfind(prefix, 0) != 0) continue;
      std::uint32_t id = 0;
      const char* b = name.data() + prefix.size();
      auto [end, perr] = std::from_chars(b, name.data() + name.size(), id);
      if (perr == std::errc() && end == name.data() + name.size() && id != 0) gpus.insert(id);
    }
  }
  return {gpus.begin(), gpus.end()};
}

}  // namespace gp
