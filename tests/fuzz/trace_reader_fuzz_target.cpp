#include "trace_reader_fuzz_target.h"

#include <sstream>
#include <string>

#include "trace/analysis.h"
#include "trace/perfetto.h"
#include "trace/reader.h"
#include "trace/report.h"

namespace gp::trace::fuzz {

int run_one(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  int accepted = 0;
  for (bool allow_truncated : {false, true}) {
    std::istringstream in(text);
    Trace t;
    try {
      t = read_trace(in, "fuzz.jsonl", {.allow_truncated = allow_truncated});
    } catch (const TraceReadError&) {
      continue;
    }
    ++accepted;
    std::vector<TraceAnalysis> runs{analyze(t)};
    (void)report_text(runs);
    (void)report_json(runs).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    (void)perfetto_json(runs).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  }
  return accepted;
}

}  // namespace gp::trace::fuzz
