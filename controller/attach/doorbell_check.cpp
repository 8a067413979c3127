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
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto n = probe->counts(pid);
  c.doorbells = n.doorbells;
  c.other_stores = n.other;
  return c;
}

std::string describe(const DoorbellCheck& c) {
  if (!c.attached)
    return fmt::format("pid {}: no doorbell uprobes ({}); preempt --online-pid would detect by polling only", c.pid,
                       c.error);
  return fmt::format(
      "pid {}: doorbell uprobes attached to {}; in {:.1f} s: {} doorbell store(s), {} other signal store(s){}", c.pid,
      c.library, c.seconds, c.doorbells, c.other_stores,
      c.doorbells ? "" : " (no GPU submission meanwhile, or one that bypasses hsa_signal_store_*: then polling)");
}

nlohmann::json to_json(const DoorbellCheck& c) {
  return {{"pid", c.pid},         {"attached", c.attached},   {"library", c.library},
          {"error", c.error},     {"seconds", c.seconds},     {"doorbells", c.doorbells},
          {"other_stores", c.other_stores}, {"cpu_idle", to_json(c.idle)}};
}

}  // namespace gp
