#include "tracing/sysfs_queues.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "base/host_paths.h"

namespace gp {

namespace fs = std::filesystem;

namespace {

template <typename T>
std::optional<T> parse_number(const std::string& s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

template <typename T>
std::optional<T> read_number(const fs::path& p) {
  std::string s;
  if (!read_text_file(p.string(), s)) return std::nullopt;
  return parse_number<T>(s);
}

std::vector<std::uint32_t> numeric_entries(const fs::path& dir) {
  std::vector<std::uint32_t> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (auto n = parse_number<std::uint32_t>(it->path().filename().string())) out.push_back(*n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// sysfs "type" prints the kernel-internal enum kfd_queue_type; 0 is compute
// on every version, every other user-queue value is an SDMA flavour.
bool same_type_class(std::uint32_t sysfs_type, std::uint8_t gp_type) {
  const bool sysfs_compute = sysfs_type == 0;
  const bool map_compute = gp_type == GP_QTYPE_COMPUTE;
  return sysfs_compute == map_compute;
}

}  // namespace

std::set<std::pair<std::uint32_t, std::uint32_t>> SysfsScan::listed() const {
  std::set<std::pair<std::uint32_t, std::uint32_t>> out;
  for (const auto& q : queues) out.insert({q.pid, q.qid});
  return out;
}

SysfsScan scan_sysfs_queues() {
  SysfsScan scan;
  const fs::path root = host_path("/sys/class/kfd/kfd/proc");
  std::error_code ec;
  scan.kfd_present = fs::is_directory(root, ec);
  if (!scan.kfd_present) return scan;
  scan.pids = numeric_entries(root);
  for (auto pid : scan.pids) {
    const fs::path qdir = root / std::to_string(pid) / "queues";
    for (auto qid : numeric_entries(qdir)) {
      SysfsQueue q;
      q.pid = pid;
      q.qid = qid;
      const fs::path d = qdir / std::to_string(qid);
      q.gpu_id = read_number<std::uint32_t>(d / "gpuid");
      q.type = read_number<std::uint32_t>(d / "type");
      q.size = read_number<std::uint64_t>(d / "size");
      // A queue destroyed while we looked has no attributes left: skip it.
      if (!q.gpu_id && !q.type && !q.size) continue;
      scan.queues.push_back(q);
    }
  }
  return scan;
}

VerifyReport verify_against_sysfs(const QueueMap& map, const SysfsScan& scan) {
  VerifyReport r;
  std::map<std::pair<std::uint32_t, std::uint32_t>, const SysfsQueue*> sysfs;
  for (const auto& q : scan.queues) sysfs[{q.pid, q.qid}] = &q;

  for (const auto& e : map.all()) {
    if (e.info.context_id != GP_CONTEXT_PRIMARY) continue;  // secondary contexts live elsewhere in sysfs
    ++r.compared;
    auto it = sysfs.find({e.tgid, e.info.qid});
    if (it == sysfs.end()) {
      r.differences.push_back(
          fmt::format("pid {} qid {}: in the map but not in sysfs", e.tgid, e.info.qid));
      continue;
    }
    const SysfsQueue& s = *it->second;
    if (s.gpu_id && *s.gpu_id != e.info.gpu_id)
      r.differences.push_back(fmt::format("pid {} qid {}: gpu {} in the map, {} in sysfs", e.tgid,
                                          e.info.qid, e.info.gpu_id, *s.gpu_id));
    if (s.size && *s.size != e.info.ring_size)
      r.differences.push_back(fmt::format("pid {} qid {}: ring size {} in the map, {} in sysfs",
                                          e.tgid, e.info.qid, e.info.ring_size, *s.size));
    if (s.type && !same_type_class(*s.type, e.info.type))
      r.differences.push_back(fmt::format("pid {} qid {}: type {} in the map, sysfs type {}", e.tgid,
                                          e.info.qid, queue_type_name(e.info.type), *s.type));
    sysfs.erase(it);
  }
  for (const auto& [key, q] : sysfs)
    r.differences.push_back(
        fmt::format("pid {} qid {}: in sysfs but not in the map", key.first, key.second));
  return r;
}

}  // namespace gp
