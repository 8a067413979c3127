#include "record/header.h"

#include <sys/utsname.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/host_paths.h"

namespace gp::record {

namespace {

std::optional<std::uint64_t> read_u64(const std::string& path) {
  std::string s;
  if (!read_text_file(path, s)) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data()) return std::nullopt;
  return v;
}

// One "key value" line of a topology properties file.
std::optional<std::uint64_t> property(const std::string& path, const std::string& key) {
  std::string text;
  if (!read_text_file(path, text)) return std::nullopt;
  std::istringstream in(text);
  std::string k;
  std::uint64_t v = 0;
  while (in >> k >> v)
    if (k == key) return v;
  return std::nullopt;
}

}  // namespace

StartTime now() { return {clock_ns(CLOCK_MONOTONIC), clock_ns(CLOCK_REALTIME)}; }

std::optional<std::string> gfx_name(std::uint32_t v) {
  if (v == 0) return std::nullopt;
  return fmt::format("gfx{}{:x}{:x}", v / 10000, (v / 100) % 100, v % 100);
}

std::vector<trace::GpuInfo> topology_gpus() {
  namespace fs = std::filesystem;
  std::vector<trace::GpuInfo> gpus;
  std::error_code ec;
  for (fs::directory_iterator it(host_path("/sys/class/kfd/kfd/topology/nodes"), ec), end; !ec && it != end;
       it.increment(ec)) {
    auto id = read_u64((it->path() / "gpu_id").string());
    if (!id || *id == 0) continue;  // CPU nodes have gpu_id 0
    trace::GpuInfo g;
    g.gpu_id = static_cast<std::uint32_t>(*id);
    if (auto v = property((it->path() / "properties").string(), "gfx_target_version"))
      g.name = gfx_name(static_cast<std::uint32_t>(*v));
    gpus.push_back(std::move(g));
  }
  std::sort(gpus.begin(), gpus.end(), [](const auto& a, const auto& b) { return a.gpu_id < b.gpu_id; });
  return gpus;
}

std::string host_name() {
  struct utsname u{};
  return ::uname(&u) == 0 ? std::string(u.nodename) : std::string("unknown");
}

trace::Header build_header(const HeaderInput& in) {
  trace::Header h;
  h.tool_version = GP_VERSION;
  h.host = in.host;
  h.kernel = in.facts.kernel;
  if (in.facts.kfd_version) h.kfd_version = in.facts.kfd_version->str();
  h.gpus = in.gpus;
  h.start_monotonic_ns = in.start.monotonic_ns;
  h.start_realtime_ns = in.start.realtime_ns;
  h.pids = in.pids;
  h.command = in.command;
  for (const auto& q : in.queues)
    if (!in.keep_owner || in.keep_owner(q.tgid)) h.initial_queues.push_back({q.tgid, q.info});
  return h;
}

}  // namespace gp::record
