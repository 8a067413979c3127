#include "trace/reader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <istream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "trace/event_json.h"

namespace gp::trace {

using nlohmann::json;

TraceReadError::TraceReadError(std::string source, std::size_t line, const std::string& message)
    : std::runtime_error(line ? fmt::format("{}:{}: {}", source, line, message)
                              : fmt::format("{}: {}", source, message)),
      source_(std::move(source)),
      line_(line) {}

std::uint64_t Trace::end_monotonic_ns() const {
  std::uint64_t end = header.start_monotonic_ns;
  if (trailer) end = std::max(end, trailer->end_monotonic_ns);
  for (const auto& ev : events) end = std::max(end, ev.raw.ts_ns);
  for (const auto& s : stats) end = std::max(end, s.ts_ns);
  return end;
}

namespace {

class LineReader {
 public:
  LineReader(std::istream& in, const std::string& source, const ReadOptions& opts)
      : in_(in), source_(source), opts_(opts) {}

  Trace read() {
    Trace t;
    t.source = source_;
    std::string line;
    bool have_header = false;
    while (next(line)) {
      if (t.trailer) fail("data after the trailer (two traces concatenated?)");
      if (line.empty()) fail("empty line");
      json j = parse(line);
      if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
        fail(have_header ? "not a trace record (no \"type\")" : "not a gpreempt-bpf trace (no header)");
      const std::string type = j["type"].get<std::string>();
      if (!have_header) {
        t.header = header(j, type);
        have_header = true;
        continue;
      }
      try {
        if (type == "event") {
          t.events.push_back(event_from_json(j, t.header.version));
        } else if (type == "stats") {
          t.stats.push_back(stats_from_json(j));
        } else if (type == "trailer") {
          t.trailer = trailer_from_json(j);
          if (t.trailer->events != t.events.size())
            fail(fmt::format("the trailer counts {} events but the file has {}", t.trailer->events,
                             t.events.size()));
        } else if (type == "header") {
          fail("a second header (two traces concatenated?)");
        } else {
          fail(fmt::format("unknown record type \"{}\"", type));
        }
      } catch (const EventJsonError& e) {
        fail(fmt::format("bad {} record: {}", type, e.what()));
      }
    }
    if (!have_header) {
      if (dropped_partial_) fail("incomplete header line");
      throw TraceReadError(source_, 1, "empty file, not a gpreempt-bpf trace");
    }
    t.dropped_partial_line = dropped_partial_;
    if (!t.trailer && !opts_.allow_truncated)
      throw TraceReadError(source_, line_no_ + 1,
                           fmt::format("truncated trace: no trailer after {} events (was the recorder "
                                       "killed?); --allow-truncated reads it anyway",
                                       t.events.size()));
    return t;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw TraceReadError(source_, line_no_, why); }

  // Next line. A last line without '\n' that is not valid JSON is what a
  // killed writer leaves: dropped in truncated mode, an error otherwise.
  bool next(std::string& line) {
    if (!std::getline(in_, line)) return false;
    ++line_no_;
    if (in_.eof() && !json::accept(line)) {
      if (!opts_.allow_truncated) fail("incomplete last line (truncated trace); --allow-truncated drops it");
      dropped_partial_ = true;
      return false;
    }
    return true;
  }

  json parse(const std::string& line) const {
    try {
      return json::parse(line);
    } catch (const json::parse_error& e) {
      // nlohmann's message starts with "[json.exception.parse_error.101] parse
      // error at line 1, column N: ..."; keep the column part.
      std::string what = e.what();
      auto at = what.find("column");
      fail(fmt::format("not JSON ({})", at == std::string::npos ? what : what.substr(at)));
    }
  }

  Header header(const json& j, const std::string& type) const {
    if (type != "header" || !j.contains("format") || j["format"] != kTraceFormatName)
      fail(fmt::format("not a gpreempt-bpf trace (the first line must be a \"{}\" header)", kTraceFormatName));
    if (!j.contains("version") || !j["version"].is_number_unsigned())
      fail("header without a format version");
    auto version = j["version"].get<std::uint64_t>();
    const std::string readable = fmt::format("this build reads versions {} to {}", kOldestTraceFormatVersion,
                                             kTraceFormatVersion);
    if (version > static_cast<std::uint64_t>(kTraceFormatVersion))
      fail(fmt::format("trace format version {} is newer than this build of gpreempt-bpf ({}): read it "
                       "with the gpreempt-bpf that wrote it, or a newer one",
                       version, readable));
    if (version < static_cast<std::uint64_t>(kOldestTraceFormatVersion))
      fail(fmt::format("trace format version {} is not supported ({})", version, readable));
    try {
      return header_from_json(j);
    } catch (const EventJsonError& e) {
      fail(fmt::format("bad header: {}", e.what()));
    }
  }

  std::istream& in_;
  const std::string& source_;
  const ReadOptions& opts_;
  std::size_t line_no_ = 0;
  bool dropped_partial_ = false;
};

}  // namespace

Trace read_trace(std::istream& in, const std::string& source, const ReadOptions& opts) {
  return LineReader(in, source, opts).read();
}

Trace read_trace_file(const std::string& path, const ReadOptions& opts) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TraceReadError(path, 0, fmt::format("cannot open: {}", std::strerror(errno)));
  return read_trace(in, path, opts);
}

}  // namespace gp::trace
