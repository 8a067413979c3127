// queues --hqd: which hardware queue slots (HQDs) each mapped queue occupies,
// from one read of KFD's debugfs register dump joined with the queue map.
#pragma once

#include <cstdint>
#include <vector>

#include "tracing/session.h"

namespace gp::cli {

// Exit 0 when the dump was decoded (slots no map queue explains are flagged,
// not an error); UserError (exit 1) when it cannot be read, lists no GPU
// or is not in the known format; 1 when some GPU's registers did not fit.
int run_queues_hqd(const std::vector<std::uint32_t>& pids, bool json, SessionOptions session);

}  // namespace gp::cli
