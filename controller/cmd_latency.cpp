// gpreempt-bpf latency: log2 histograms of in-kernel CWSR preemption time per
// cause (issue 5). Registered now so --help shows what is coming.
#include <CLI/CLI.hpp>

#include "commands.h"

namespace gp::cli {

void add_latency(CLI::App& app, Selected& sel) {
  auto* cmd = app.add_subcommand(
      "latency",
      "[planned] Histograms of in-kernel CWSR preemption latency per cause (unmap_queues_cpsch spans)");
  cmd->allow_extras();
  cmd->callback([&sel] {
    sel.run = [] () -> int {
      throw UserError("`latency` is not implemented yet: the preemption span probes are still being built", 3);
    };
  });
}

}  // namespace gp::cli
