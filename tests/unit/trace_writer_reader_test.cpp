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
  EXPECT_EQ(json::parse(l1)["version"], kTraceFormatVersion);
  EXPECT_EQ(kTraceFormatVersion, 3);
  EXPECT_EQ(json::parse(l2)["type"], "event");
  EXPECT_EQ(json::parse(l3)["type"], "trailer");
  EXPECT_EQ(json::parse(l3)["events"], 1);
}

TEST(TraceWriterReader, WritesTheCurrentVersionWhateverTheHeaderSays) {
  std::string path = temp_path("old-header.jsonl");
  Header h = sample_header();
  h.version = 1;
  {
    TraceWriter w(path);
    w.begin(h);
    w.end({});
  }
  EXPECT_EQ(read_trace_file(path).header.version, kTraceFormatVersion);
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
  auto with_version = [](int version) {
    auto lines = split_lines(good_file());
    json h = json::parse(lines[0]);
    h["version"] = version;
    lines[0] = h.dump();
    return join_lines(lines);
  };
  EXPECT_EQ(read_error(with_version(4)),
            "t.jsonl:1: trace format version 4 is newer than this build of gpreempt-bpf (this build reads "
            "versions 1 to 3): read it with the gpreempt-bpf that wrote it, or a newer one");
  EXPECT_EQ(read_error(with_version(0)),
            "t.jsonl:1: trace format version 0 is not supported (this build reads versions 1 to 3)");
}

// A version 1 or 2 file (32-bit seqs: "preempt.seq", a victim's "aux") still
// reads, and its victims still join their preemption.
TEST(TraceReaderVersions, Version1And2FilesReadAndJoinTheirVictims) {
  for (int version : {1, 2}) {
    SCOPED_TRACE(version);
    auto lines = split_lines(good_file());
    json h = json::parse(lines[0]);
    h["version"] = version;
    std::vector<std::string> old = {h.dump()};
    Event victim = testing::queue_event(EventKind::PreemptVictim, 2'000'000'000, 4242, 3, 0xffff888000001000);
    json vj = to_json(victim);
    vj.erase("seq");
    vj["aux"] = 7;
    json pj = to_json(full_event(EventKind::Preempt, 2'000'000'100));
    pj.erase("seq");
    pj["preempt"].erase("flags");
    pj["preempt"]["seq"] = 7;
    old.push_back(vj.dump());
    old.push_back(pj.dump());
    old.push_back(json{{"type", "trailer"}, {"events", 2}, {"lost", 0}, {"end_monotonic_ns", 3'000'000'000ull},
                      {"end_realtime_ns", 0}}
                     .dump());
    std::istringstream in(join_lines(old));
    Trace t = read_trace(in, "old.jsonl");
    EXPECT_EQ(t.header.version, version);
    ASSERT_EQ(t.events.size(), 2u);
    EXPECT_EQ(t.events[0].raw.seq, 7u);
    EXPECT_EQ(t.events[1].raw.seq, 7u);
    TraceAnalysis a = analyze(t);
    ASSERT_EQ(a.preemptions.size(), 1u);
    ASSERT_EQ(a.preemptions[0].victims.size(), 1u);
    EXPECT_EQ(a.preemptions[0].victims[0].qid, 3u);
    EXPECT_EQ(a.unmatched_victims, 0u);
  }
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

// ------------------------------------------------------------ versions 1 and 2

// Reads tests/data/<name> under its bare name.
Trace load(const std::string& name) {
  std::istringstream in(read_text(testing::golden_path(name)));
  return read_trace(in, name);
}

void expect_same_events(const Trace& a, const Trace& b) {
  ASSERT_EQ(a.events.size(), b.events.size());
  for (std::size_t i = 0; i < a.events.size(); ++i)
    EXPECT_EQ(0, std::memcmp(&a.events[i].raw, &b.events[i].raw, sizeof(gp_event)))
        << "event " << i << ": " << to_json(a.events[i]).dump() << " vs " << to_json(b.events[i]).dump();
}

// The version 1 and 2 fixtures are the same scenarios as the version 3 goldens
// (tests/data/make_trace_goldens.py): all read into the same trace.
TEST(TraceVersion1, ReadsIntoTheSameEventsAsVersion3) {
  for (const auto& [v1, v2] : {std::pair{"trace_v1_exp1_one_model.jsonl", "trace_exp1_one_model.jsonl"},
                               std::pair{"trace_v1_exp3_concurrent.jsonl", "trace_exp3_concurrent.jsonl"},
                               std::pair{"trace_v2_exp1_one_model.jsonl", "trace_exp1_one_model.jsonl"},
                               std::pair{"trace_v2_exp3_concurrent.jsonl", "trace_exp3_concurrent.jsonl"}}) {
    SCOPED_TRACE(v1);
    const int old_version = std::string_view(v1).starts_with("trace_v1_") ? 1 : 2;
    Trace old_file = load(v1), new_file = load(v2);
    EXPECT_EQ(old_file.header.version, old_version);
    EXPECT_EQ(new_file.header.version, 3);
    EXPECT_EQ(json::parse(split_lines(read_text(testing::golden_path(v1)))[0])["version"], old_version);
    EXPECT_EQ(old_file.header.pids, new_file.header.pids);
    EXPECT_EQ(old_file.header.initial_queues.size(), new_file.header.initial_queues.size());
    EXPECT_EQ(old_file.stats.size(), new_file.stats.size());
    ASSERT_TRUE(old_file.trailer && new_file.trailer);
    EXPECT_EQ(old_file.trailer->events, new_file.trailer->events);
    expect_same_events(old_file, new_file);
  }
}

// In the version 1 file the ioctl lines carry every field; what the ioctl
// does not have is dropped on reading.
TEST(TraceVersion1, FieldsOfOtherIoctlsAreDropped) {
  const std::string text = read_text(testing::golden_path("trace_v1_exp3_concurrent.jsonl"));
  json update;
  for (const auto& l : split_lines(text))
    if (json j = json::parse(l); j.value("kind", "") == "ioctl_update_queue") update = j;
  ASSERT_TRUE(update.is_object());
  EXPECT_EQ(update["ioctl"]["gpu_id"], 48301);  // written by version 1, not an UPDATE_QUEUE argument
  EXPECT_EQ(update["ioctl"]["dbg_op"], "enable");
  Trace t = load("trace_v1_exp3_concurrent.jsonl");
  for (const Event& ev : t.events) {
    if (ev.kind() != EventKind::IoctlUpdateQueue) continue;
    EXPECT_EQ(ev.raw.io.gpu_id, 0u);
    EXPECT_EQ(ev.raw.io.queue_type, 0u);
    EXPECT_EQ(ev.raw.io.priority, 2u);
    EXPECT_EQ(ev.raw.io.percent, 50u);
    EXPECT_EQ(ev.raw.io.ring_size, 1u << 19);
  }
}

// Rewriting a version 1 trace gives a version 3 file with only each ioctl's
// fields and the top-level seqs, which reads back into the same events.
TEST(TraceVersion1, RewrittenAsVersion3) {
  Trace old_file = load("trace_v1_exp3_concurrent.jsonl");
  std::string path = temp_path("rewritten.jsonl");
  {
    TraceWriter w(path);
    w.begin(old_file.header);  // version 1 as read: the writer writes its own
    for (const auto& ev : old_file.events) w.write(ev);
    w.end(*old_file.trailer);
  }
  auto lines = split_lines(read_text(path));
  EXPECT_EQ(json::parse(lines[0])["version"], 3);
  int ioctls = 0, seqs = 0;
  for (const auto& l : lines) {
    json j = json::parse(l);
    if (j.value("kind", "") == "preempt" || j.value("kind", "") == "preempt_victim") {
      ++seqs;
      EXPECT_TRUE(j.contains("seq")) << l;
      if (j.contains("preempt")) {
        EXPECT_FALSE(j["preempt"].contains("seq")) << l;
      }
    }
    if (!j.contains("ioctl")) continue;
    ++ioctls;
    EXPECT_FALSE(j["ioctl"].contains("arg0")) << l;
    if (j["kind"] == "ioctl_update_queue") {
      EXPECT_FALSE(j["ioctl"].contains("dbg_op")) << l;
      EXPECT_FALSE(j["ioctl"].contains("gpu_id")) << l;
    }
  }
  EXPECT_EQ(ioctls, 2);
  EXPECT_GT(seqs, 0);
  Trace back = read_trace_file(path);
  EXPECT_EQ(back.header.version, 3);
  expect_same_events(back, old_file);
}

// A version 1 header with version 2 event lines, a version 2 header with
// version 3 ones, or the other way round: the line is refused, naming the key.
TEST(TraceVersion1, EventLinesFollowTheHeadersVersion) {
  auto v1 = split_lines(read_text(testing::golden_path("trace_v1_exp1_one_model.jsonl")));
  auto v2 = split_lines(read_text(testing::golden_path("trace_v2_exp1_one_model.jsonl")));
  auto v3 = split_lines(read_text(testing::golden_path("trace_exp1_one_model.jsonl")));
  ASSERT_EQ(v1.size(), v2.size());
  std::size_t create = 0;
  for (std::size_t i = 0; i < v1.size(); ++i)
    if (v1[i].find("\"ioctl_create_queue\"") != std::string::npos) create = i;
  ASSERT_GT(create, 0u);
  auto mixed = v1;
  mixed[create] = v2[create];
  EXPECT_EQ(read_error(join_lines(mixed)),
            fmt::format("t.jsonl:{}: bad event record: ioctl.dbg_op: missing", create + 1));
  mixed = v2;
  mixed[create] = v1[create];
  EXPECT_EQ(read_error(join_lines(mixed)),
            fmt::format("t.jsonl:{}: bad event record: ioctl.arg0: not a field of an ioctl_create_queue event",
                        create + 1));
  ASSERT_EQ(v2.size(), v3.size());
  std::size_t preempt = 0;
  for (std::size_t i = 0; i < v2.size(); ++i)
    if (v2[i].find("\"kind\":\"preempt\"") != std::string::npos) preempt = i;
  ASSERT_GT(preempt, 0u);
  mixed = v2;
  mixed[preempt] = v3[preempt];
  EXPECT_EQ(read_error(join_lines(mixed)),
            fmt::format("t.jsonl:{}: bad event record: preempt.seq: missing", preempt + 1));
  mixed = v3;
  mixed[preempt] = v2[preempt];
  EXPECT_EQ(read_error(join_lines(mixed)),
            fmt::format("t.jsonl:{}: bad event record: preempt.flags: missing", preempt + 1));
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
