// gpreempt-bpf: eBPF tracing of AMD GPU (KFD) queues and a preemption
// controller built on the exact queue map. One file per subcommand
// (cmd_*.cpp); this only wires them together and maps errors to exit codes.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"

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
