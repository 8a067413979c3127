// What the attached latency probes can measure on this kernel, from the
// session's attach report: whether HWS and MES spans are recorded at all, and
// which phases a missing probe leaves unmeasured (so `latency` says so instead
// of printing numbers that silently mean something else).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "attach/probe_status.h"

namespace gp::latency {

struct Coverage {
  bool hws = false;  // unmap_queues_cpsch entry and return: T0..T4 spans
  bool mes = false;  // some mes_v1x_y_remove_hw_queue (or suspend_all_queues_mes) entry and return
  std::vector<std::string> attached;                         // symbols, once each
  std::vector<std::pair<std::string, std::string>> absent;   // (symbol, why), once each
  std::vector<std::string> warnings;                         // what an absent probe costs
  bool any() const { return hws || mes; }
};

Coverage coverage(const AttachReport& r);

}  // namespace gp::latency
