// A fixed set of processes for the exporter tests: what the agent's map and
// /proc would report, set by the test.
#pragma once

#include <vector>

#include "metrics/process_facts.h"

namespace gp::test {

class FakeFacts final : public metrics::ProcessFactsSource {
 public:
  std::vector<metrics::ProcessFacts> facts;
  void process_facts(std::vector<metrics::ProcessFacts>& out) const override { out = facts; }
};

}  // namespace gp::test
