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

// proc/<pid>/context_<id>/: a secondary context (kfd_create_process_sysfs
// names it "context_%u" under the primary's directory). Sorted by id.
std::vector<std::uint16_t> context_entries(const fs::path& dir) {
  std::vector<std::uint16_t> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("context_", 0) != 0) continue;
    auto id = parse_number<std::uint32_t>(name.substr(8));
    if (id && *id < GP_CONTEXT_PRIMARY) out.push_back(static_cast<std::uint16_t>(*id));
  }
  std::sort(out.begin(), out.end());
  return out;
}

void scan_queue_dir(const fs::path& qdir, std::uint32_t pid, std::uint16_t ctx, std::vector<SysfsQueue>* out) {
  for (auto qid : numeric_entries(qdir)) {
    SysfsQueue q;
    q.pid = pid;
    q.context_id = ctx;
    q.qid = qid;
    const fs::path d = qdir / std::to_string(qid);
    q.gpu_id = read_number<std::uint32_t>(d / "gpuid");
    q.type = read_number<std::uint32_t>(d / "type");
    q.size = read_number<std::uint64_t>(d / "size");
    // A queue destroyed while we looked has no attributes left: skip it.
    if (!q.gpu_id && !q.type && !q.size) continue;
    out->push_back(q);
  }
}

std::string queue_label(std::uint32_t pid, std::uint16_t ctx, std::uint32_t qid) {
  return ctx == GP_CONTEXT_PRIMARY ? fmt::format("pid {} qid {}", pid, qid)
                                   : fmt::format("pid {} context {} qid {}", pid, ctx, qid);
}

}  // namespace

std::set<QueueKey> SysfsScan::listed() const {
  std::set<QueueKey> out;
  for (const auto& q : queues) out.insert({q.pid, q.context_id, q.qid});
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
    const fs::path pdir = root / std::to_string(pid);
    scan_queue_dir(pdir / "queues", pid, GP_CONTEXT_PRIMARY, &scan.queues);
    for (auto ctx : context_entries(pdir))
      scan_queue_dir(pdir / fmt::format("context_{}", ctx) / "queues", pid, ctx, &scan.queues);
  }
  return scan;
}

VerifyReport verify_against_sysfs(const QueueMap& map, const SysfsScan& scan) {
  VerifyReport r;
  std::map<QueueKey, const SysfsQueue*> sysfs;
  for (const auto& q : scan.queues) sysfs[{q.pid, q.context_id, q.qid}] = &q;

  for (const auto& e : map.all()) {
    ++r.compared;
    const std::string what = queue_label(e.tgid, e.info.context_id, e.info.qid);
    auto it = sysfs.find({e.tgid, e.info.context_id, e.info.qid});
    if (it == sysfs.end()) {
      r.differences.push_back(fmt::format("{}: in the map but not in sysfs{}", what,
                                          e.destroy_failed ? " (its destroy failed; the kernel kept it)" : ""));
      continue;
    }
    const SysfsQueue& s = *it->second;
    if (s.gpu_id && *s.gpu_id != e.info.gpu_id)
      r.differences.push_back(fmt::format("{}: gpu {} in the map, {} in sysfs", what, e.info.gpu_id, *s.gpu_id));
    if (s.size && *s.size != e.info.ring_size)
      r.differences.push_back(
          fmt::format("{}: ring size {} in the map, {} in sysfs", what, e.info.ring_size, *s.size));
    if (s.type && !same_type_class(*s.type, e.info.type))
      r.differences.push_back(
          fmt::format("{}: type {} in the map, sysfs type {}", what, queue_type_name(e.info.type), *s.type));
    sysfs.erase(it);
  }
  for (const auto& [key, q] : sysfs)
    r.differences.push_back(
        fmt::format("{}: in sysfs but not in the map", queue_label(key.tgid, key.context_id, key.qid)));
  return r;
}

}  // namespace gp
