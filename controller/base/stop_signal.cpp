#include "base/stop_signal.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <initializer_list>

namespace gp {

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
volatile std::sig_atomic_t g_stop = 0;
int g_stop_fd = -1;

void wake_pollers() {
  if (g_stop_fd < 0) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(g_stop_fd, &one, sizeof(one));  // async-signal-safe
}

void on_signal(int sig) {
  g_stop_signal = sig;
  g_stop = 1;
  wake_pollers();
}
}  // namespace

void install_stop_signals() {
  if (g_stop_fd < 0) g_stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking poll returns EINTR and the loop notices
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

bool stop_requested() { return g_stop != 0; }
int stop_signal() { return g_stop_signal; }
int stop_fd() { return g_stop_fd; }
void request_stop() {
  g_stop = 1;
  wake_pollers();
}

void clear_stop_for_testing() {
  g_stop = 0;
  g_stop_signal = 0;
  std::uint64_t v;
  while (g_stop_fd >= 0 && ::read(g_stop_fd, &v, sizeof(v)) > 0) {
  }
}

}  // namespace gp
