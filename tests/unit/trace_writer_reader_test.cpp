// TraceWriter -> file -> read_trace: lossless, and every way a file can be
// wrong is refused with its line number.
#include <cstring>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/clock.h"
#include "trace/analysis.h"
#include "trace/event_json.h"
#include "trace/reader.h"
#include "trace/writer.h"
#include "trace_test_util.h"

namespace gp::trace {
namespace {

using nlohmann::json;
using testing::full_event;
using testing::read_text;
using testing::sample_header;
using testing::temp_path;

std::vector<Event> all_kinds() {
  std::vector<Event> v;
  for (std::uint32_t k = 1; k < GP_EV_KIND_MAX; ++k) v.push_back(full_event(static_cast<EventKind>(k), 2'000'000'000 + k));
  return v;
}

TEST(TraceWriterReader, RoundTrip) {
  std::string path = temp_path("roundtrip.jsonl");
  Header h = sample_header();
  auto events = all_kinds();
  {
    TraceWriter w(path);
    w.begin(h);
    for (const auto& ev : events) w.write(ev);
    w.stats({2'500'000'000, 16, 1, 3});
    w.end({999, 4, 3'000'000'000, 1'770'000'002'000'000'000});  // events: the writer counts
  }
  Trace t = read_trace_file(path);
  EXPECT_EQ(t.source, path);
  EXPECT_FALSE(t.truncated());
  EXPECT_EQ(t.header.host, "synthetic");
  EXPECT_EQ(t.header.kfd_version, "1.17");
  ASSERT_EQ(t.header.gpus.size(), 2u);
  EXPECT_EQ(t.header.gpus[0].name, "gfx942");
  EXPECT_FALSE(t.header.gpus[1].name.has_value());
  EXPECT_EQ(t.header.command, h.command);
  EXPECT_EQ(t.header.pids, h.pids);
  EXPECT_EQ(t.header.start_realtime_ns, h.start_realtime_ns);
  ASSERT_EQ(t.header.initial_queues.size(), 1u);
  EXPECT_EQ(t.header.initial_queues[0].pid, 4242u);
  EXPECT_EQ(0, std::memcmp(&t.header.initial_queues[0].queue, &h.initial_queues[0].queue, sizeof(gp_queue_info)));
  ASSERT_EQ(t.events.size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i)
    EXPECT_EQ(0, std::memcmp(&t.events[i].raw, &events[i].raw, sizeof(gp_event))) << "event " << i;
  ASSERT_EQ(t.stats.size(), 1u);
  EXPECT_EQ(t.stats[0].live_queues, 3u);
  ASSERT_TRUE(t.trailer);
  EXPECT_EQ(t.trailer->events, events.size());
  EXPECT_EQ(t.trailer->lost, 4u);
  EXPECT_EQ(t.end_monotonic_ns(), 3'000'000'000u);
}

TEST(TraceWriterReader, FileLayoutIsHeaderEventsTrailer) {
  std::string path = temp_path("layout.jsonl");
  {
    TraceWriter w(path);
    w.begin(sample_header());
    w.write(full_event(EventKind::QueueAdd));
    w.end({});
  }
  std::istringstream lines(read_text(path));
  std::string l1, l2, l3, extra;
  std::getline(lines, l1);
  std::getline(lines, l2);
  std::getline(lines, l3);
  EXPECT_FALSE(std::getline(lines, extra));
  EXPECT_EQ(json::parse(l1)["format"], "gpreempt-bpf-trace");
  EXPECT_EQ(json::parse(l1)["version"], 2);
  EXPECT_EQ(json::parse(l2)["type"], "event");
  EXPECT_EQ(json::parse(l3)["type"], "trailer");
  EXPECT_EQ(json::parse(l3)["events"], 1);
}

TEST(TraceWriterReader, UnfinishedWriterLeavesATruncatedButReadableFile) {
  std::string path = temp_path("killed.jsonl");
  {
    TraceWriter w(path);
    w.begin(sample_header());
    for (int i = 0; i < 3; ++i) w.write(full_event(EventKind::QueueState, 2'000'000'000 + i));
    // no end(): the destructor flushes whole lines, like a recorder that
    // was stopped between two events
  }
  try {
    read_trace_file(path);
    FAIL() << "a file without trailer must be refused by default";
  } catch (const TraceReadError& e) {
    EXPECT_EQ(e.line(), 5u);
    EXPECT_NE(std::string(e.what()).find("truncated trace: no trailer after 3 events"), std::string::npos);
  }
  Trace t = read_trace_file(path, {.allow_truncated = true});
  EXPECT_TRUE(t.truncated());
  EXPECT_EQ(t.events.size(), 3u);
  EXPECT_FALSE(t.dropped_partial_line);
  EXPECT_EQ(t.end_monotonic_ns(), 2'000'000'002u);
}

TEST(TraceWriterReader, WriterBuffersUntilFlush) {
  std::string path = temp_path("buffered.jsonl");
  TraceWriter w(path);
  w.begin(sample_header());
  auto after_header = read_text(path).size();
  EXPECT_GT(after_header, 0u);  // begin() flushes the header
  w.write(full_event(EventKind::QueueAdd));
  EXPECT_EQ(read_text(path).size(), after_header);
  w.flush();
  EXPECT_GT(read_text(path).size(), after_header);
  EXPECT_EQ(w.events_written(), 1u);
  EXPECT_THROW(w.begin(sample_header()), std::logic_error);
}

TEST(TraceWriterReader, CannotCreateNamesThePath) {
  try {
    TraceWriter w("/nonexistent-dir/x.jsonl");
    FAIL();
  } catch (const TraceWriteError& e) {
    EXPECT_STREQ(e.what(), "cannot create /nonexistent-dir/x.jsonl: No such file or directory");
  }
}

// ------------------------------------------------------------ reader errors

std::string good_file() {
  std::string path = temp_path("good.jsonl");
  TraceWriter w(path);
  w.begin(sample_header());
  w.write(full_event(EventKind::QueueAdd));
  w.write(full_event(EventKind::QueueRemove));
  w.end({});
  return read_text(path);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v) s += l + "\n";
  return s;
}

std::string read_error(const std::string& text, ReadOptions opts = {}) {
  std::istringstream in(text);
  try {
    read_trace(in, "t.jsonl", opts);
  } catch (const TraceReadError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TraceReaderErrors, GoodFileReads) { EXPECT_EQ(read_error(good_file()), "(no error)"); }

TEST(TraceReaderErrors, EmptyFile) { EXPECT_EQ(read_error(""), "t.jsonl:1: empty file, not a gpreempt-bpf trace"); }

TEST(TraceReaderErrors, NotATrace) {
  EXPECT_EQ(read_error("hello\n"),
            "t.jsonl:1: not JSON (column 1: syntax error while parsing value - invalid literal; last read: 'h')");
  EXPECT_EQ(read_error("{\"type\":\"header\",\"format\":\"perf\"}\n"),
            "t.jsonl:1: not a gpreempt-bpf trace (the first line must be a \"gpreempt-bpf-trace\" header)");
  auto lines = split_lines(good_file());
  EXPECT_EQ(read_error(join_lines({lines[1], lines[2]})),
            "t.jsonl:1: not a gpreempt-bpf trace (the first line must be a \"gpreempt-bpf-trace\" header)");
}

TEST(TraceReaderErrors, OtherVersion) {
  auto lines = split_lines(good_file());
  json h = json::parse(lines[0]);
  for (int v : {0, 3}) {
    h["version"] = v;
    lines[0] = h.dump();
    EXPECT_EQ(read_error(join_lines(lines)),
              fmt::format("t.jsonl:1: trace format version {} is not supported (this build reads versions 1 to 2)", v));
  }
}

// A version-1 file (32-bit seqs: "preempt.seq", a victim's "aux") still reads,
// and its victims still join their preemption.
TEST(TraceReaderVersions, Version1FileReadsAndJoinsItsVictims) {
  auto lines = split_lines(good_file());
  json h = json::parse(lines[0]);
  h["version"] = 1;
  std::vector<std::string> v1 = {h.dump()};
  Event victim = testing::queue_event(EventKind::PreemptVictim, 2'000'000'000, 4242, 3, 0xffff888000001000);
  json vj = to_json(victim);
  vj.erase("seq");
  vj["aux"] = 7;
  json pj = to_json(full_event(EventKind::Preempt, 2'000'000'100));
  pj.erase("seq");
  pj["preempt"].erase("flags");
  pj["preempt"]["seq"] = 7;
  v1.push_back(vj.dump());
  v1.push_back(pj.dump());
  v1.push_back(json{{"type", "trailer"}, {"events", 2}, {"lost", 0}, {"end_monotonic_ns", 3'000'000'000ull},
                    {"end_realtime_ns", 0}}
                   .dump());
  std::istringstream in(join_lines(v1));
  Trace t = read_trace(in, "v1.jsonl");
  EXPECT_EQ(t.header.version, 1);
  ASSERT_EQ(t.events.size(), 2u);
  EXPECT_EQ(t.events[0].raw.seq, 7u);
  EXPECT_EQ(t.events[1].raw.seq, 7u);
  TraceAnalysis a = analyze(t);
  ASSERT_EQ(a.preemptions.size(), 1u);
  ASSERT_EQ(a.preemptions[0].victims.size(), 1u);
  EXPECT_EQ(a.preemptions[0].victims[0].qid, 3u);
  EXPECT_EQ(a.unmatched_victims, 0u);
}

// Seqs from CPUs 256 apart used to be equal in 32 bits; each victim must
// join its own preemption.
TEST(TraceReaderVersions, VictimsJoinByTheFull64BitSeq) {
  std::string path = temp_path("cpus.jsonl");
  const std::uint64_t on_cpu0 = 1, on_cpu256 = (std::uint64_t{256} << 32) | 1;
  {
    TraceWriter w(path);
    w.begin(sample_header());
    Event v0 = testing::queue_event(EventKind::PreemptVictim, 2'000'000'000, 4242, 0, 0xffff888000001000);
    v0.raw.seq = on_cpu0;
    Event v256 = testing::queue_event(EventKind::PreemptVictim, 2'000'000'001, 5252, 1, 0xffff888000002000);
    v256.raw.seq = on_cpu256;
    Event p0 = full_event(EventKind::Preempt, 2'000'000'010);
    p0.raw.seq = on_cpu0;
    Event p256 = full_event(EventKind::Preempt, 2'000'000'020);
    p256.raw.seq = on_cpu256;
    for (const Event& e : {v0, v256, p256, p0}) w.write(e);
    w.end({});
  }
  Trace t = read_trace_file(path);
  TraceAnalysis a = analyze(t);
  ASSERT_EQ(a.preemptions.size(), 2u);
  for (const auto& p : a.preemptions) {
    ASSERT_EQ(p.victims.size(), 1u) << p.seq;
    EXPECT_EQ(p.victims[0].qid, p.seq == on_cpu0 ? 0u : 1u);
  }
}

TEST(TraceReaderErrors, CorruptLineInTheMiddle) {
  auto lines = split_lines(good_file());
  lines[2] = lines[2].substr(0, lines[2].size() / 2);  // cut in the middle, newline kept
  std::string err = read_error(join_lines(lines));
  EXPECT_EQ(err.rfind("t.jsonl:3: not JSON (column", 0), 0u) << err;
  // Corruption in the middle is never forgiven.
  EXPECT_EQ(read_error(join_lines(lines), {.allow_truncated = true}).rfind("t.jsonl:3: not JSON", 0), 0u);
}

TEST(TraceReaderErrors, BadEventNamesLineAndKey) {
  auto lines = split_lines(good_file());
  json ev = json::parse(lines[1]);
  ev["queue"]["gpu_id"] = "48301";
  lines[1] = ev.dump();
  EXPECT_EQ(read_error(join_lines(lines)),
            "t.jsonl:2: bad event record: queue.gpu_id: expected an integer, got \"48301\"");
}

TEST(TraceReaderErrors, UnknownRecordType) {
  auto lines = split_lines(good_file());
  lines.insert(lines.begin() + 2, R"({"type":"comment","text":"hi"})");
  EXPECT_EQ(read_error(join_lines(lines)), "t.jsonl:3: unknown record type \"comment\"");
}

TEST(TraceReaderErrors, TrailerCountMismatch) {
  auto lines = split_lines(good_file());
  lines.erase(lines.begin() + 2);  // drop one event, keep the trailer
  EXPECT_EQ(read_error(join_lines(lines)), "t.jsonl:3: the trailer counts 2 events but the file has 1");
}

TEST(TraceReaderErrors, DataAfterTrailerAndSecondHeader) {
  auto lines = split_lines(good_file());
  EXPECT_EQ(read_error(join_lines(lines) + lines[1] + "\n"),
            "t.jsonl:5: data after the trailer (two traces concatenated?)");
  auto twice = lines;
  twice.insert(twice.begin() + 1, lines[0]);
  EXPECT_EQ(read_error(join_lines(twice)), "t.jsonl:2: a second header (two traces concatenated?)");
  auto blank = lines;
  blank.insert(blank.begin() + 1, "");
  EXPECT_EQ(read_error(join_lines(blank)), "t.jsonl:2: empty line");
}

TEST(TraceReaderErrors, CutOffLastLine) {
  auto lines = split_lines(good_file());
  lines.pop_back();  // the trailer never made it
  std::string text = join_lines(lines) + lines[1].substr(0, 40);  // a half-written event, no newline
  EXPECT_EQ(read_error(text),
            "t.jsonl:4: incomplete last line (truncated trace); --allow-truncated drops it");
  std::istringstream in(text);
  Trace t = read_trace(in, "t.jsonl", {.allow_truncated = true});
  EXPECT_TRUE(t.truncated());
  EXPECT_TRUE(t.dropped_partial_line);
  EXPECT_EQ(t.events.size(), 2u);
}

TEST(TraceReaderErrors, MissingFile) {
  try {
    read_trace_file("/nonexistent/trace.jsonl");
    FAIL();
  } catch (const TraceReadError& e) {
    EXPECT_EQ(e.line(), 0u);
    EXPECT_STREQ(e.what(), "/nonexistent/trace.jsonl: cannot open: No such file or directory");
  }
}

}  // namespace
}  // namespace gp::trace
