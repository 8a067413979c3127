// Every subcommand registers itself on the CLI11 app through one add_* function
// (one file per command: cli/<name>.cpp). The callback only records which
// command runs; main() runs it after parsing, so errors surface as exit codes.
#pragma once

#include <functional>
#include <string>

#include "base/error.h"

namespace CLI {
class App;
}

namespace gp::cli {

struct Selected {
  std::function<int()> run;  // set by the chosen subcommand's parse callback
};

void add_watch(CLI::App& app, Selected& sel);
void add_queues(CLI::App& app, Selected& sel);
void add_doctor(CLI::App& app, Selected& sel);
void add_preempt(CLI::App& app, Selected& sel);
void add_ctl(CLI::App& app, Selected& sel);
void add_latency(CLI::App& app, Selected& sel);
void add_record(CLI::App& app, Selected& sel);
void add_report(CLI::App& app, Selected& sel);
void add_agent(CLI::App& app, Selected& sel);

}  // namespace gp::cli
