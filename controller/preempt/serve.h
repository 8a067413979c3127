// preempt --serve: an online service (or `gpreempt-bpf ctl`) claims the GPU
// over a Unix socket and the offline targets stay suspended while any claim
// is held (protocol in controller/preempt/protocol.h). Claims outlive the connection that
// made them, so a one-shot `ctl suspend` works; --max-hold-ms bounds each one.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <string>

#include "preempt/controller.h"

namespace gp {

struct ServeOptions {
  std::string socket_path;
  int max_hold_ms = 0;       // 0: a claim lasts until released
  mode_t socket_mode = 0600; // who may connect (the socket is created by root)
};

// Runs until a stop signal or every target is gone; resumes before returning.
// Throws UserError if the socket cannot be set up (nothing suspended yet).
int run_serve(PreemptController& ctl, EventSource& src, const ServeOptions& opts, std::FILE* out);

}  // namespace gp
