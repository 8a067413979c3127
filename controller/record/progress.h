// The progress line `record` keeps on stderr: refreshed in place about once
// a second on a terminal, one plain line every few seconds otherwise (logs
// and CI must not fill up with carriage returns).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace gp::record {

struct ProgressCounts {
  double elapsed_s = 0;
  std::uint64_t seen = 0;     // events the session decoded
  std::uint64_t written = 0;  // event lines in the trace
  std::uint32_t live_queues = 0;
  std::uint64_t lost = 0;
};

std::string progress_text(const ProgressCounts& c);

class Progress {
 public:
  static constexpr double kTtyPeriod_s = 1.0;
  static constexpr double kLogPeriod_s = 5.0;

  Progress(std::FILE* out, bool tty) : out_(out), tty_(tty) {}
  // Prints when the period has passed since the last line (by elapsed_s).
  void update(const ProgressCounts& c);
  // Ends an in-place line so later messages start on a fresh one.
  void finish();
  bool tty() const { return tty_; }

 private:
  std::FILE* out_;
  bool tty_;
  double last_s_ = -1e9;
  bool dirty_ = false;
};

}  // namespace gp::record
