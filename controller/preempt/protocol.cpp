#include "preempt/protocol.h"

#include <charconv>
#include <sstream>
#include <vector>

#include <fmt/format.h>

namespace gp {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

}  // namespace

bool valid_holder(std::string_view h) {
  if (h.empty() || h.size() > 64) return false;
  for (char c : h)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

ControlRequest parse_request(std::string_view line) {
  ControlRequest r;
  std::istringstream in{std::string(trim(line))};
  std::string verb, holder;
  in >> verb;
  // After the verb: an optional holder and an optional gpu=ID, in that order.
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  if (!words.empty() && words.back().rfind("gpu=", 0) == 0) {
    const std::string id = words.back().substr(4);
    std::uint32_t gpu = 0;
    auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), gpu);
    if (id.empty() || ec != std::errc() || end != id.data() + id.size()) {
      r.error = fmt::format("bad selector '{}': gpu=ID with a decimal KFD gpu_id", words.back());
      return r;
    }
    r.gpu = gpu;
    words.pop_back();
  }
  if (words.size() > 1) {
    r.error = "too many words; expected: suspend|resume [HOLDER] [gpu=ID] or status [gpu=ID]";
    return r;
  }
  if (!words.empty()) holder = words.front();
  if (verb == "suspend") r.kind = ControlRequest::Kind::Suspend;
  else if (verb == "resume") r.kind = ControlRequest::Kind::Resume;
  else if (verb == "status") r.kind = ControlRequest::Kind::Status;
  else {
    r.error = fmt::format("unknown request '{}'; expected suspend, resume or status", verb);
    return r;
  }
  if (!holder.empty()) {
    if (r.kind == ControlRequest::Kind::Status || !valid_holder(holder)) {
      r.kind = ControlRequest::Kind::Invalid;
      r.error = fmt::format("bad holder '{}': one word of letters, digits, '.', '_', '-'", holder);
      return r;
    }
    r.holder = holder;
  }
  return r;
}

std::string format_request(ControlRequest::Kind kind, const std::string& holder, std::optional<std::uint32_t> gpu) {
  const std::string sel = gpu ? fmt::format(" gpu={}", *gpu) : std::string();
  switch (kind) {
    case ControlRequest::Kind::Suspend: return fmt::format("suspend {}{}\n", holder, sel);
    case ControlRequest::Kind::Resume: return fmt::format("resume {}{}\n", holder, sel);
    default: return fmt::format("status{}\n", sel);
  }
}

ControlReply parse_reply(std::string_view line) {
  ControlReply r;
  line = trim(line);
  if (line.rfind("err", 0) == 0) {
    r.error = std::string(trim(line.substr(3)));
    return r;
  }
  if (line.rfind("ok", 0) != 0) {
    r.error = fmt::format("malformed reply '{}'", line);
    return r;
  }
  r.ok = true;
  std::istringstream in{std::string(line.substr(2))};
  std::string kv;
  while (in >> kv) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) r.fields[kv] = "";
    else r.fields[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return r;
}

}  // namespace gp
