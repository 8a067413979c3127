// SIGINT, SIGTERM and SIGHUP ask the running command to stop; loops check
// stop_requested() between short polls and unwind normally, so every RAII
// cleanup (probe detach, queue resume) runs.
#pragma once

namespace gp {

void install_stop_signals();
bool stop_requested();
int stop_signal();  // the signal that asked, 0 if none
void request_stop();

}  // namespace gp
