#include "attach/doorbell_check.h"

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "attach/doorbell_probe.h"

namespace gp {

DoorbellCheck check_doorbells(pid_t pid, double seconds) {
  DoorbellCheck c;
  c.pid = pid;
  c.idle = read_cpu_idle();
  std::string why;
  auto probe = DoorbellProbe::load(nullptr, &why);
  if (!probe) {
    c.error = why;
    return c;
  }
  if (auto e = probe->attach(pid); !e.empty()) {
    c.error = e;
    return c;
  }
  c.attached = true;
  c.library = probe->library(pid);
  c.links = probe->arming_stats().uprobe_multi ? "uprobe_multi" : "perf_event";
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto n = probe->counts(pid);
  c.doorbells = n.doorbells;
  c.other_stores = n.other;
  return c;
}

}  // namespace gp
