#include "trace/format.h"

#include <fmt/format.h>

#include "trace/event_json.h"

namespace gp::trace {

using nlohmann::json;

namespace {

// Minimal strict accessors (event_json.cpp has the full set for events).
const json& field(const json& j, const char* rec, const char* key) {
  if (!j.is_object()) throw EventJsonError(fmt::format("{}: expected an object", rec));
  auto it = j.find(key);
  if (it == j.end()) throw EventJsonError(fmt::format("{}.{}: missing", rec, key));
  return *it;
}

std::uint64_t u64(const json& j, const char* rec, const char* key) {
  const json& v = field(j, rec, key);
  if (!v.is_number_unsigned())
    throw EventJsonError(fmt::format("{}.{}: expected a non-negative integer, got {}", rec, key, v.dump()));
  return v.get<std::uint64_t>();
}

std::uint32_t u32(const json& j, const char* rec, const char* key) {
  std::uint64_t v = u64(j, rec, key);
  if (v > UINT32_MAX) throw EventJsonError(fmt::format("{}.{}: {} is out of range", rec, key, v));
  return static_cast<std::uint32_t>(v);
}

std::string str(const json& j, const char* rec, const char* key) {
  const json& v = field(j, rec, key);
  if (!v.is_string()) throw EventJsonError(fmt::format("{}.{}: expected a string, got {}", rec, key, v.dump()));
  return v.get<std::string>();
}

const json& array(const json& j, const char* rec, const char* key) {
  const json& v = field(j, rec, key);
  if (!v.is_array()) throw EventJsonError(fmt::format("{}.{}: expected an array, got {}", rec, key, v.dump()));
  return v;
}

}  // namespace

json to_json(const Header& h) {
  json gpus = json::array();
  for (const auto& g : h.gpus) {
    json o = {{"gpu_id", g.gpu_id}};
    if (g.name) o["name"] = *g.name;
    gpus.push_back(std::move(o));
  }
  json queues = json::array();
  for (const auto& iq : h.initial_queues) {
    json q = queue_to_json(iq.queue);
    q["pid"] = iq.pid;
    queues.push_back(std::move(q));
  }
  return {
      {"type", "header"},
      {"format", kTraceFormatName},
      {"version", h.version},
      {"tool_version", h.tool_version},
      {"host", h.host},
      {"kernel", h.kernel},
      {"kfd_version", h.kfd_version ? json(*h.kfd_version) : json(nullptr)},
      {"gpus", std::move(gpus)},
      {"start_monotonic_ns", h.start_monotonic_ns},
      {"start_realtime_ns", h.start_realtime_ns},
      {"pids", h.pids},
      {"command", h.command ? json(*h.command) : json(nullptr)},
      {"initial_queues", std::move(queues)},
  };
}

Header header_from_json(const json& j) {
  constexpr const char* rec = "header";
  Header h;
  h.version = static_cast<int>(u32(j, rec, "version"));
  h.tool_version = str(j, rec, "tool_version");
  h.host = str(j, rec, "host");
  h.kernel = str(j, rec, "kernel");
  if (!field(j, rec, "kfd_version").is_null()) h.kfd_version = str(j, rec, "kfd_version");
  for (const json& g : array(j, rec, "gpus")) {
    GpuInfo info{u32(g, "header.gpus[]", "gpu_id"), std::nullopt};
    if (g.contains("name")) info.name = str(g, "header.gpus[]", "name");
    h.gpus.push_back(std::move(info));
  }
  h.start_monotonic_ns = u64(j, rec, "start_monotonic_ns");
  h.start_realtime_ns = u64(j, rec, "start_realtime_ns");
  for (const json& p : array(j, rec, "pids")) {
    if (!p.is_number_unsigned() || p.get<std::uint64_t>() > UINT32_MAX)
      throw EventJsonError(fmt::format("header.pids: expected pids, got {}", p.dump()));
    h.pids.push_back(p.get<std::uint32_t>());
  }
  if (!field(j, rec, "command").is_null()) {
    std::vector<std::string> argv;
    for (const json& a : array(j, rec, "command")) {
      if (!a.is_string()) throw EventJsonError(fmt::format("header.command: expected strings, got {}", a.dump()));
      argv.push_back(a.get<std::string>());
    }
    h.command = std::move(argv);
  }
  for (const json& q : array(j, rec, "initial_queues"))
    h.initial_queues.push_back({u32(q, "header.initial_queues[]", "pid"), queue_from_json(q)});
  return h;
}

json to_json(const Stats& s) {
  return {{"type", "stats"},   {"ts_ns", s.ts_ns},         {"events", s.events},
          {"lost", s.lost},    {"live_queues", s.live_queues}};
}

Stats stats_from_json(const json& j) {
  return {u64(j, "stats", "ts_ns"), u64(j, "stats", "events"), u64(j, "stats", "lost"),
          u32(j, "stats", "live_queues")};
}

json to_json(const Trailer& t) {
  return {{"type", "trailer"},
          {"events", t.events},
          {"lost", t.lost},
          {"end_monotonic_ns", t.end_monotonic_ns},
          {"end_realtime_ns", t.end_realtime_ns}};
}

Trailer trailer_from_json(const json& j) {
  return {u64(j, "trailer", "events"), u64(j, "trailer", "lost"), u64(j, "trailer", "end_monotonic_ns"),
          u64(j, "trailer", "end_realtime_ns")};
}

}  // namespace gp::trace
