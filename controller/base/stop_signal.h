// SIGINT, SIGTERM and SIGHUP ask the running command to stop; loops check
// stop_requested() between short polls and unwind normally, so every RAII
// cleanup (probe detach, queue resume) runs.
#pragma once

namespace gp {

void install_stop_signals();
bool stop_requested();
// Readable once a stop was asked: for a loop on another thread than the one
// the signal interrupts (the preempt loops run on a tracer thread, which
// blocks these signals). -1 before install_stop_signals().
int stop_fd();
int stop_signal();  // the signal that asked, 0 if none
void request_stop();
// Tests only: forgets a stop asked (flag, signal, and stop_fd() drained).
void clear_stop_for_testing();

}  // namespace gp
