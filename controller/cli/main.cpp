// gpreempt-bpf: eBPF tracing of AMD GPU (KFD) queues and a preemption
// controller built on the exact queue map. One file per subcommand
// (cli/<command>.cpp); this only wires them together and maps errors to exit codes.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"

namespace {

// The short usage: one line per command, each with its one-line description.
std::string usage(CLI::App& app) {
  std::string out = "usage: gpreempt-bpf COMMAND [OPTIONS]\n\ncommands:\n";
  for (const CLI::App* cmd : app.get_subcommands([](CLI::App*) { return true; }))
    out += fmt::format("  {:<8} {}\n", cmd->get_name(), cmd->get_description());
  out += "\n'gpreempt-bpf COMMAND --help' lists a command's options.\n";
  return out;
}

// The parse failed before any command was chosen. CLI11 then says "A
// subcommand is required"; say what was wrong instead: the word in the
// command's place (CLI11 keeps it in remaining()), or that there was none.
int no_command(CLI::App& app) {
  const std::vector<std::string> left = app.remaining();
  const auto word = std::find_if(left.begin(), left.end(), [](const std::string& a) { return !a.starts_with('-'); });
  if (word != left.end())
    fmt::print(stderr, "gpreempt-bpf: unknown command '{}'\n\n", *word);
  else if (!left.empty())
    fmt::print(stderr, "gpreempt-bpf: unknown option '{}'\n\n", left.front());
  fmt::print(stderr, "{}", usage(app));
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "gpreempt-bpf: see every AMD GPU queue (KFD) being created, changed, evicted, suspended and\n"
      "destroyed, keep an exact live map of queues per process, suspend/resume an offline job's\n"
      "queues for an online one, and measure each in-kernel CWSR preemption.",
      "gpreempt-bpf"};
  app.set_version_flag("--version", std::string("gpreempt-bpf ") + GP_VERSION);
  app.require_subcommand(1);

  gp::cli::Selected sel;
  gp::cli::add_watch(app, sel);
  gp::cli::add_queues(app, sel);
  gp::cli::add_doctor(app, sel);
  gp::cli::add_preempt(app, sel);
  gp::cli::add_ctl(app, sel);
  gp::cli::add_latency(app, sel);
  gp::cli::add_record(app, sel);
  gp::cli::add_report(app, sel);
  gp::cli::add_agent(app, sel);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end the parse too, with exit code 0.
    if (e.get_exit_code() != 0 && app.get_subcommands().empty()) return no_command(app);
    return app.exit(e);
  }
  try {
    return sel.run ? sel.run() : 2;
  } catch (const gp::UserError& e) {
    std::fflush(stdout);
    fmt::print(stderr, "gpreempt-bpf: {}\n", e.what());
    return e.code;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "gpreempt-bpf: internal error: {}\n", e.what());
    return 70;  // EX_SOFTWARE
  }
}
