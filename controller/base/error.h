// The error a user can act on. main() prints it as "gpreempt-bpf: <message>"
// and exits with its code; every layer throws it for what the user must fix.
// Throw it only before anything was changed, or after it was undone: the
// message must be the whole story.
#pragma once

#include <stdexcept>
#include <string>

namespace gp {

class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& msg, int exit_code = 1)
      : std::runtime_error(msg), code(exit_code) {}
  int code;
};

}  // namespace gp
