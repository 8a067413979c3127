// Every subcommand registers itself on the CLI11 app through one add_* function
// (one file per command: cmd_<name>.cpp). The callback only records which
// command runs; main() runs it after parsing, so errors surface as exit codes.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

namespace CLI {
class App;
}

namespace gp::cli {

struct Selected {
  std::function<int()> run;  // set by the chosen subcommand's parse callback
};

// A failure the user can act on: printed as "gpreempt-bpf: <message>" and turned
// into the exit code. Throw it only before anything was changed, or after it was
// undone: the message must be the whole story.
class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& msg, int exit_code = 1)
      : std::runtime_error(msg), code(exit_code) {}
  int code;
};

void add_watch(CLI::App& app, Selected& sel);
void add_queues(CLI::App& app, Selected& sel);
void add_doctor(CLI::App& app, Selected& sel);
void add_preempt(CLI::App& app, Selected& sel);
void add_ctl(CLI::App& app, Selected& sel);
void add_latency(CLI::App& app, Selected& sel);
void add_record(CLI::App& app, Selected& sel);
void add_report(CLI::App& app, Selected& sel);

}  // namespace gp::cli
