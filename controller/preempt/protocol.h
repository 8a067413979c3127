// The preempt control socket's protocol: one request line, one reply line.
//
//   suspend [HOLDER] [gpu=ID]   claim the GPU (suspend the offline targets if first)
//   resume  [HOLDER] [gpu=ID]   release HOLDER's latest claim (resume if it was the last)
//   status  [gpu=ID]            state, claims and counters
//
// Replies are "ok key=value ..." or "err <message>". HOLDER is a word
// ([A-Za-z0-9._-], at most 64); it defaults to "anon". gpu=ID (a KFD
// gpu_id, decimal) selects one GPU of `gpreempt-bpf agent`; without it a
// claim covers every GPU, as it always did (preempt --serve knows no GPUs
// and refuses the selector).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace gp {

struct ControlRequest {
  enum class Kind { Suspend, Resume, Status, Invalid };
  Kind kind = Kind::Invalid;
  std::string holder = "anon";
  std::optional<std::uint32_t> gpu;  // gpu=ID
  std::string error;  // for Invalid
};

ControlRequest parse_request(std::string_view line);
std::string format_request(ControlRequest::Kind kind, const std::string& holder,
                           std::optional<std::uint32_t> gpu = std::nullopt);

struct ControlReply {
  bool ok = false;
  std::string error;                         // when !ok
  std::map<std::string, std::string> fields;  // when ok
};

ControlReply parse_reply(std::string_view line);
bool valid_holder(std::string_view h);

}  // namespace gp
