#include "record/signals.h"

#include <signal.h>

#include <csignal>

#include "base/stop_signal.h"

namespace gp::record {

namespace {
volatile std::sig_atomic_t g_requests = 0;
volatile std::sig_atomic_t g_signal = 0;
volatile std::sig_atomic_t g_from_terminal = 0;

void on_stop(int sig, siginfo_t* info, void*) {
  g_signal = sig;
  // Job-control signals from the tty driver carry SI_KERNEL; kill(2) SI_USER.
  g_from_terminal = info && info->si_code == SI_KERNEL;
  g_requests = g_requests + 1;
  request_stop();  // async-signal-safe: it only sets a sig_atomic_t
}
}  // namespace

void install_record_signals() {
  install_stop_signals();  // same set and flags; our handler replaces theirs below
  struct sigaction sa{};
  sa.sa_sigaction = on_stop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: a blocking poll returns EINTR
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

int stop_requests() { return g_requests; }
int last_stop_signal() { return g_signal; }
bool last_stop_from_terminal() { return g_from_terminal != 0; }

}  // namespace gp::record
