// Helpers shared by the trace_* tests: events with every payload field set,
// temporary files, golden data paths.
#pragma once

#include <cstdint>
#include <string>

#include "trace/event.h"
#include "trace/format.h"
#include "trace/reader.h"

namespace gp::trace::testing {

// An event of `kind` whose common fields and payload fields are all set to
// distinct non-zero values (pads stay zero), valid for gp::decode(). An ioctl
// event sets only the fields of its ioctl (gp::ioctl_fields); a DBG_TRAP is a
// suspend_queues.
Event full_event(EventKind kind, std::uint64_t ts_ns = 1'000'000'123);

// A queue event (add/remove/state/snapshot) with the given identity.
Event queue_event(EventKind kind, std::uint64_t ts_ns, std::uint32_t pid, std::uint32_t qid, std::uint64_t kptr,
                  std::uint8_t queue_flags = GP_QF_ACTIVE, Cause cause = Cause::None);

Header sample_header();

std::string golden_path(const std::string& name);  // tests/data/<name>
// The trace file tests/data/<name>, read (a missing file fails the test).
Trace load_golden(const std::string& name);
std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);
// A fresh path under the test's temporary directory.
std::string temp_path(const std::string& name);

}  // namespace gp::trace::testing
