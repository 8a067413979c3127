// Reads a whole trace file (trace/format.h) into memory, strictly.
//
// Refused, with "FILE:LINE: why": anything that is not JSON Lines, a first
// line that is not our header, a format version this build does not read
// (it reads kOldestTraceFormatVersion to kTraceFormatVersion), an unknown record
// type, an event that does not pass event_from_json (which applies the ring
// buffer's own validation), lines after the trailer, and a trailer whose event
// count disagrees with the file.
//
// Truncated files (no trailer: the recorder was killed or the disk filled up)
// are refused too unless ReadOptions::allow_truncated is set; then every
// complete line is returned, a cut-off last line is dropped, and
// Trace::truncated() says so. Corruption in the middle of a file is never
// forgiven: only the end of a file can be legitimately missing.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "trace/event.h"
#include "trace/format.h"

namespace gp::trace {

class TraceReadError : public std::runtime_error {
 public:
  TraceReadError(std::string source, std::size_t line, const std::string& message);
  const std::string& source() const { return source_; }
  std::size_t line() const { return line_; }  // 1-based; 0 = the file as a whole

 private:
  std::string source_;
  std::size_t line_;
};

struct ReadOptions {
  bool allow_truncated = false;
};

struct Trace {
  std::string source;  // the path, for messages and reports
  Header header;
  std::vector<Event> events;  // file order (ring-buffer order, not sorted)
  std::vector<Stats> stats;
  std::optional<Trailer> trailer;  // nullopt: truncated
  bool dropped_partial_line = false;  // truncated mode cut an incomplete last line

  bool truncated() const { return !trailer; }
  // End of observation: the trailer's end, else the last timestamp seen.
  std::uint64_t end_monotonic_ns() const;
};

Trace read_trace(std::istream& in, const std::string& source, const ReadOptions& opts = {});
// Throws TraceReadError (line 0) when the file cannot be opened.
Trace read_trace_file(const std::string& path, const ReadOptions& opts = {});

}  // namespace gp::trace
