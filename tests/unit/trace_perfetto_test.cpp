// The Perfetto export must be a valid Chrome trace-event file: these checks
// follow the trace-event format document (phases, required keys, flow
// pairing, metadata) so the file opens in ui.perfetto.dev.
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "trace/perfetto.h"
#include "trace/reader.h"
#include "trace_test_util.h"

namespace gp::trace {
namespace {

using nlohmann::json;
using testing::golden_path;
using testing::load_golden;

// Structural validation of a trace-event JSON object; returns the problems.
std::vector<std::string> validate(const json& doc) {
  std::vector<std::string> bad;
  if (!doc.is_object() || !doc.contains("traceEvents") || !doc["traceEvents"].is_array())
    return {"no traceEvents array"};
  std::set<std::pair<std::int64_t, std::int64_t>> named_threads;
  std::set<std::int64_t> named_processes;
  std::map<std::uint64_t, int> flow_starts, flow_ends;
  double last_ts = -1;
  bool seen_timed = false;
  for (const json& e : doc["traceEvents"]) {
    std::string where = e.dump().substr(0, 120);
    for (const char* key : {"ph", "name", "pid", "tid", "ts"})
      if (!e.contains(key)) bad.push_back(std::string("missing ") + key + ": " + where);
    if (!e.contains("ph") || !e.contains("ts") || !e["ts"].is_number()) continue;
    const std::string ph = e["ph"];
    const double ts = e["ts"];
    if (ph == "M") {
      if (seen_timed) bad.push_back("metadata after timed events: " + where);
      std::string n = e["name"];
      if (n != "process_name" && n != "thread_name" && n != "process_sort_index" && n != "thread_sort_index")
        bad.push_back("unknown metadata " + n);
      if (!e.contains("args")) bad.push_back("metadata without args: " + where);
      if (n == "process_name") named_processes.insert(e["pid"].get<std::int64_t>());
      if (n == "thread_name") named_threads.insert({e["pid"].get<std::int64_t>(), e["tid"].get<std::int64_t>()});
      continue;
    }
    seen_timed = true;
    if (ts < 0) bad.push_back("negative ts: " + where);
    if (ts < last_ts) bad.push_back("ts goes backwards: " + where);
    last_ts = ts;
    auto track = std::make_pair(e["pid"].get<std::int64_t>(), e["tid"].get<std::int64_t>());
    if (!named_processes.count(track.first)) bad.push_back("process without process_name: " + where);
    if (ph == "X") {
      if (!e.contains("dur") || !e["dur"].is_number() || e["dur"].get<double>() < 0) bad.push_back("X without dur: " + where);
      if (!named_threads.count(track)) bad.push_back("slice on an unnamed thread: " + where);
    } else if (ph == "C") {
      if (!e.contains("args") || !e["args"].is_object() || e["args"].empty()) bad.push_back("C without args: " + where);
      for (const auto& [k, v] : e["args"].items())
        if (!v.is_number()) bad.push_back("C arg not a number: " + where);
    } else if (ph == "i") {
      if (e.value("s", "") != "t" && e.value("s", "") != "p" && e.value("s", "") != "g")
        bad.push_back("instant without scope: " + where);
    } else if (ph == "s" || ph == "f") {
      if (!e.contains("id") || !e.contains("cat")) {
        bad.push_back("flow without id/cat: " + where);
        continue;
      }
      (ph == "s" ? flow_starts : flow_ends)[e["id"].get<std::uint64_t>()]++;
      if (ph == "f" && e.value("bp", "") != "e") bad.push_back("flow end not bound to its enclosing slice: " + where);
    } else if (ph == "B" || ph == "E") {
      bad.push_back("B/E are not used by this exporter: " + where);
    } else {
      bad.push_back("unexpected phase " + ph);
    }
  }
  // X slices on one thread must nest: each one inside the enclosing open
  // slice or after it, never straddling its end.
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<std::pair<double, double>>> stacks;
  for (const json& e : doc["traceEvents"]) {
    if (e.value("ph", "") != "X" || !e.contains("dur")) continue;
    auto& stack = stacks[{e["pid"].get<std::int64_t>(), e["tid"].get<std::int64_t>()}];
    double b = e["ts"], end = b + e["dur"].get<double>();
    while (!stack.empty() && stack.back().second <= b) stack.pop_back();
    if (!stack.empty() && end > stack.back().second + 1e-9) bad.push_back("slices overlap without nesting: " + e.dump());
    stack.emplace_back(b, end);
  }
  if (flow_starts != flow_ends) bad.push_back("flow starts and ends do not pair up");
  for (const auto& [id, n] : flow_starts)
    if (n != 1) bad.push_back("flow id used twice: " + std::to_string(id));
  return bad;
}

std::vector<json> find(const json& doc, const std::string& ph, const std::string& name) {
  std::vector<json> out;
  for (const json& e : doc["traceEvents"])
    if (e["ph"] == ph && e["name"] == name) out.push_back(e);
  return out;
}

TEST(TracePerfetto, ValidatorCatchesBrokenFiles) {
  // The validator itself must be able to fail.
  json doc = {{"traceEvents", json::array({{{"ph", "X"}, {"name", "x"}, {"pid", 1}, {"tid", 1}, {"ts", 5}}})}};
  EXPECT_FALSE(validate(doc).empty());
  doc = {{"traceEvents", json::array({{{"ph", "s"}, {"name", "f"}, {"cat", "c"}, {"id", 1}, {"pid", 1}, {"tid", 1}, {"ts", 1}}})}};
  EXPECT_FALSE(validate(doc).empty());
  json straddle = json::array({
      {{"ph", "M"}, {"name", "process_name"}, {"pid", 1}, {"tid", 0}, {"ts", 0}, {"args", {{"name", "p"}}}},
      {{"ph", "M"}, {"name", "thread_name"}, {"pid", 1}, {"tid", 1}, {"ts", 0}, {"args", {{"name", "t"}}}},
      {{"ph", "X"}, {"name", "a"}, {"pid", 1}, {"tid", 1}, {"ts", 0}, {"dur", 10}},
      {{"ph", "X"}, {"name", "b"}, {"pid", 1}, {"tid", 1}, {"ts", 5}, {"dur", 10}}});
  EXPECT_EQ(validate({{"traceEvents", straddle}}).size(), 1u);
}

TEST(TracePerfetto, Exp3IsValidAndComplete) {
  Trace t = load_golden("trace_exp3_concurrent.jsonl");
  json doc = perfetto_json({analyze(t)});
  auto problems = validate(doc);
  EXPECT_TRUE(problems.empty()) << problems.front();

  auto names = find(doc, "M", "process_name");
  std::set<std::string> process_names;
  for (const auto& m : names) process_names.insert(m["args"]["name"]);
  EXPECT_TRUE(process_names.count("python3 (5001)"));
  EXPECT_TRUE(process_names.count("python3 (5002)"));
  EXPECT_TRUE(process_names.count("gpu 48301 preemptions"));

  // One track per (qid, gpu) of a process: 5002 reused qid 1, so two tracks.
  std::set<std::pair<std::int64_t, std::string>> threads;
  for (const auto& m : find(doc, "M", "thread_name")) threads.insert({m["pid"].get<std::int64_t>(), m["args"]["name"].get<std::string>()});
  EXPECT_TRUE(threads.count({5002, "queue 0 gpu 48301"}));
  EXPECT_TRUE(threads.count({5002, "queue 1 gpu 48301"}));
  EXPECT_TRUE(threads.count({5001, "queue 1 gpu 48301"}));
  EXPECT_EQ(find(doc, "X", "queue 1").size(), 3u);  // 5001 q1, 5002 q1 twice (same track)

  auto suspended = find(doc, "X", "suspended");
  ASSERT_EQ(suspended.size(), 2u);
  EXPECT_DOUBLE_EQ(suspended[0]["ts"].get<double>(), 6'000'400.0);
  EXPECT_DOUBLE_EQ(suspended[0]["dur"].get<double>(), 19'600.0);

  auto preempts = find(doc, "X", "preempt (dbg_suspend)");
  ASSERT_EQ(preempts.size(), 1u);
  EXPECT_DOUBLE_EQ(preempts[0]["dur"].get<double>(), 380.0);
  EXPECT_EQ(preempts[0]["args"]["collateral"], 1);
  // 3 victims of the suspend + 1 of the resume, each linked by a flow.
  EXPECT_EQ(find(doc, "s", "victim").size() + find(doc, "s", "collateral victim").size(), 4u);
  auto collateral_ends = find(doc, "f", "collateral victim");
  ASSERT_EQ(collateral_ends.size(), 2u);
  EXPECT_EQ(collateral_ends[0]["pid"], 5001);

  auto counters = find(doc, "C", "live queues");
  ASSERT_FALSE(counters.empty());
  int max_live = 0;
  for (const auto& c : counters)
    if (c["pid"] == 5002) max_live = std::max(max_live, c["args"]["queues"].get<int>());
  EXPECT_EQ(max_live, 2);
}

TEST(TracePerfetto, OverlappingLivesOfOneQidGetTheirOwnTrack) {
  // kptr A (qid 1) is never removed (lost event); kptr B reuses qid 1.
  Trace t;
  t.source = "lost.jsonl";
  t.header.start_monotonic_ns = 100'000;
  t.events.push_back(testing::queue_event(EventKind::QueueAdd, 200'000, 7, 1, 0xA));
  t.events.push_back(testing::queue_event(EventKind::QueueAdd, 300'000, 7, 1, 0xB));
  t.trailer = Trailer{2, 0, 500'000, 0};
  json doc = perfetto_json({analyze(t)});
  auto problems = validate(doc);
  EXPECT_TRUE(problems.empty()) << problems.front();
  std::set<std::int64_t> tids;
  for (const auto& x : find(doc, "X", "queue 1")) tids.insert(x["tid"].get<std::int64_t>());
  EXPECT_EQ(tids.size(), 2u);
}

TEST(TracePerfetto, SeveralRunsGetSeparatePids) {
  Trace a = load_golden("trace_exp2_model_a_run1.jsonl"), b = load_golden("trace_exp2_model_a_run2.jsonl");
  json doc = perfetto_json({analyze(a), analyze(b)});
  EXPECT_TRUE(validate(doc).empty());
  std::set<std::string> names;
  for (const auto& m : find(doc, "M", "process_name")) names.insert(m["args"]["name"]);
  EXPECT_TRUE(names.count("python3 (5101) [run 1]"));
  EXPECT_TRUE(names.count("python3 (5202) [run 2]"));
  std::set<std::int64_t> pids;
  for (const auto& m : find(doc, "M", "process_name")) pids.insert(m["pid"].get<std::int64_t>());
  EXPECT_TRUE(pids.count(5101));
  EXPECT_TRUE(pids.count(10'000'000 + 5202));
}

TEST(TracePerfetto, WritesAFileThatParses) {
  Trace t = load_golden("trace_exp1_one_model.jsonl");
  std::string path = testing::temp_path("exp1.perfetto.json");
  write_perfetto({analyze(t)}, path);
  json doc = json::parse(testing::read_text(path));
  auto problems = validate(doc);
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(find(doc, "X", "evicted").size(), 2u);
  EXPECT_THROW(write_perfetto({analyze(t)}, "/nonexistent/x.json"), std::runtime_error);
}

}  // namespace
}  // namespace gp::trace
