#include "trace/writer.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "trace/event_json.h"

namespace gp::trace {

TraceWriter::TraceWriter(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw TraceWriteError(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
  buffer_.reserve(kFlushBytes + 4096);
}

TraceWriter::~TraceWriter() {
  if (fd_ < 0) return;
  try {
    flush();
  } catch (const TraceWriteError&) {
    // Nothing to report to from a destructor; the file reads as truncated.
  }
  ::close(fd_);
}

void TraceWriter::require(State s, const char* what) const {
  if (state_ != s) throw std::logic_error(fmt::format("TraceWriter::{} called out of order", what));
}

void TraceWriter::begin(const Header& header) {
  require(State::Fresh, "begin");
  // The events below are in this build's schema, whatever version `header`
  // was read with.
  Header h = header;
  h.version = kTraceFormatVersion;
  append_line(to_json(h).dump());
  state_ = State::Open;
  flush();  // the header alone already makes a readable (truncated) trace
}

void TraceWriter::write(const Event& ev) {
  require(State::Open, "write");
  append_line(gp::to_json(ev).dump());
  ++events_;
}

void TraceWriter::stats(const Stats& s) {
  require(State::Open, "stats");
  append_line(to_json(s).dump());
  flush();
}

void TraceWriter::end(Trailer trailer) {
  require(State::Open, "end");
  trailer.events = events_;
  append_line(to_json(trailer).dump());
  state_ = State::Ended;
  flush();
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw TraceWriteError(fmt::format("cannot close {}: {}", path_, std::strerror(errno)));
}

void TraceWriter::append_line(const std::string& json_text) {
  buffer_ += json_text;
  buffer_ += '\n';
  if (buffer_.size() >= kFlushBytes) flush();
}

void TraceWriter::flush() {
  std::size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      buffer_.erase(0, done);
      throw TraceWriteError(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
}

}  // namespace gp::trace
