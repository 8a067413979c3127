// gpreempt-bpf record: write lifecycle traces (versioned JSON Lines) for
// experiments. Registered now so --help shows what is coming.
#include <CLI/CLI.hpp>

#include "commands.h"

namespace gp::cli {

void add_record(CLI::App& app, Selected& sel) {
  auto* cmd = app.add_subcommand(
      "record", "[planned] Record every queue event to a versioned JSON Lines trace (for `report`)");
  cmd->allow_extras();
  cmd->callback([&sel] {
    sel.run = [] () -> int {
      throw UserError("`record` is not implemented yet", 3);
    };
  });
}

}  // namespace gp::cli
