// Where start-up goes: each phase's wall time, in order (the attach report's
// startup_ms: `watch --json` prints it, the start-up benchmark reads it).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace gp {

class PhaseClock {
 public:
  explicit PhaseClock(std::vector<std::pair<std::string, double>>& phases) : phases_(phases) {}
  void done(const char* phase) {
    const auto now = std::chrono::steady_clock::now();
    phases_.emplace_back(phase, std::chrono::duration<double, std::milli>(now - last_).count());
    last_ = now;
  }

 private:
  std::vector<std::pair<std::string, double>>& phases_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace gp
