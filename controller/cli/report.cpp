// `report FILE... [--json] [--perfetto OUT] [--allow-truncated]`: the user's
// experiments 1-4 over recorded traces (trace/report.h), and the Perfetto
// timeline (trace/perfetto.h).
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "trace/perfetto.h"
#include "trace/reader.h"
#include "trace/report.h"

namespace gp::cli {

namespace {

struct ReportOptions {
  std::vector<std::string> files;
  bool json = false;
  bool allow_truncated = false;
  std::string perfetto;
};

int run_report(const ReportOptions& o) {
  // Read everything before printing anything: one bad file fails the whole
  // report instead of leaving half of it on stdout.
  std::vector<trace::Trace> traces;
  traces.reserve(o.files.size());
  for (const auto& f : o.files) {
    try {
      traces.push_back(trace::read_trace_file(f, {.allow_truncated = o.allow_truncated}));
    } catch (const trace::TraceReadError& e) {
      throw UserError(e.what());
    }
  }
  std::vector<trace::TraceAnalysis> runs;
  runs.reserve(traces.size());
  for (const auto& t : traces) runs.push_back(trace::analyze(t));

  if (!o.perfetto.empty()) {
    try {
      trace::write_perfetto(runs, o.perfetto);
    } catch (const std::runtime_error& e) {
      throw UserError(e.what());
    }
  }
  if (o.json) {
    std::cout << trace::report_json(runs).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  } else {
    std::cout << trace::report_text(runs);
    if (!o.perfetto.empty())
      std::cout << fmt::format("Perfetto timeline written to {} (open it in ui.perfetto.dev)\n", o.perfetto);
  }
  std::cout.flush();
  return std::cout ? 0 : 1;
}

}  // namespace

void add_report(CLI::App& app, Selected& sel) {
  auto opts = std::make_shared<ReportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "report", "Analyse recorded traces: queue counts, ids across runs, overlap, lifetimes, preemption latency");
  cmd->add_option("FILE", opts->files, "trace files written by `record` (several: one per run)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_flag("--json", opts->json, "print the analyses as JSON for scripts");
  cmd->add_option("--perfetto", opts->perfetto, "also write a Chrome/Perfetto trace-event timeline to OUT")
      ->option_text("OUT");
  cmd->add_flag("--allow-truncated", opts->allow_truncated,
                "read traces without a trailer (recorder killed) up to their last complete line");
  cmd->callback([&sel, opts] { sel.run = [opts] { return run_report(*opts); }; });
}

}  // namespace gp::cli
