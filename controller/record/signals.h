// Stop requests for `record`: the controller/base/stop_signal.h contract (SIGINT, SIGTERM,
// SIGHUP set stop_requested(); no SA_RESTART) plus what record needs to
// treat its workload right: how many requests came (a second one cuts the
// wait for the workload short) and whether the last came from the terminal.
// The terminal sends Ctrl-C to the whole foreground process group, so the
// workload already has it; a kill(1) reaches only us and must be forwarded.
#pragma once

namespace gp::record {

void install_record_signals();
int stop_requests();          // signals received so far
int last_stop_signal();       // 0 if none
bool last_stop_from_terminal();

}  // namespace gp::record
