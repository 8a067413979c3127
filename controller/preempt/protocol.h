// The preempt control socket's protocol: one request line, one reply line.
//
//   suspend [HOLDER]   claim the GPU (suspend the offline targets if first)
//   resume  [HOLDER]   release HOLDER's latest claim (resume if it was the last)
//   status             state, claims and counters
//
// Replies are "ok key=value ..." or "err <message>". HOLDER is a word
// ([A-Za-z0-9._-], at most 64); it defaults to "anon".
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace gp {

struct ControlRequest {
  enum class Kind { Suspend, Resume, Status, Invalid };
  Kind kind = Kind::Invalid;
  std::string holder = "anon";
  std::string error;  // for Invalid
};

ControlRequest parse_request(std::string_view line);
std::string format_request(ControlRequest::Kind kind, const std::string& holder);

struct ControlReply {
  bool ok = false;
  std::string error;                         // when !ok
  std::map<std::string, std::string> fields;  // when ok
};

ControlReply parse_reply(std::string_view line);
bool valid_holder(std::string_view h);

}  // namespace gp
