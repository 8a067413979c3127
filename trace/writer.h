// Writes one trace file (trace/format.h). Used by `record`:
//
//   TraceWriter w(path);          // throws TraceWriteError (path: strerror)
//   w.begin(header);
//   for each event: w.write(ev);  // buffered
//   w.stats(s);                   // now and then; also flushes
//   w.end(trailer);               // writes the trailer, flushes, closes
//
// Crash tolerance without fsync: lines are only ever handed to write(2) whole,
// so a recorder killed at any point leaves a file of complete lines that the
// reader accepts as truncated (see trace/reader.h). The buffer is flushed when
// it passes kFlushBytes, on stats(), flush() and end().
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "trace/event.h"
#include "trace/format.h"

namespace gp::trace {

class TraceWriteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TraceWriter {
 public:
  static constexpr std::size_t kFlushBytes = 64 * 1024;

  // Creates (truncates) `path` with mode 0644.
  explicit TraceWriter(const std::string& path);
  // Flushes what was written; without end() the file stays truncated, which
  // is the truth: nobody closed it.
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  void begin(const Header& header);
  void write(const Event& ev);
  void stats(const Stats& s);
  // trailer.events is replaced by the number of write() calls.
  void end(Trailer trailer);
  void flush();

  std::uint64_t events_written() const { return events_; }
  const std::string& path() const { return path_; }

 private:
  enum class State { Fresh, Open, Ended };
  void append_line(const std::string& json_text);
  void require(State s, const char* what) const;

  std::string path_;
  int fd_ = -1;
  State state_ = State::Fresh;
  std::string buffer_;
  std::uint64_t events_ = 0;
};

}  // namespace gp::trace
