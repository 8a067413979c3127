// The checks every tracing command makes before touching the kernel, each
// with the message that tells the user what to do.
#pragma once

#include <string>
#include <vector>

#include "host/host_facts.h"

namespace gp {

struct Problem {
  std::string what;    // one line
  std::string fix;     // what to do about it
};

// Everything that stops tracing on this host, in the order a user should fix it.
std::vector<Problem> tracing_problems(const HostFacts& f, const std::string& btf_path);
// Throws UserError built from the first problem.
void require_tracing_host(const HostFacts& f, const std::string& btf_path);

}  // namespace gp
