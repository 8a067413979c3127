#include "stop_signal.h"

#include <csignal>
#include <initializer_list>

namespace gp {

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
volatile std::sig_atomic_t g_stop = 0;

void on_signal(int sig) {
  g_stop_signal = sig;
  g_stop = 1;
}
}  // namespace

void install_stop_signals() {
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking poll returns EINTR and the loop notices
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

bool stop_requested() { return g_stop != 0; }
int stop_signal() { return g_stop_signal; }
void request_stop() { g_stop = 1; }

}  // namespace gp
