// report: the analyses on the synthetic golden traces (tests/data/trace_*.jsonl,
// written by tests/data/make_trace_goldens.py). First the facts, asserted one
// by one from the scenarios; then the exact text and JSON (golden files).
//
// To regenerate the golden outputs after an intended change:
//   GP_UPDATE_GOLDEN=1 ./gp_trace_tests --gtest_filter='TraceReportGolden*'
// and review the diff: the facts tests below must still pass unchanged.
#include <cstdlib>
#include <fstream>
#include <tuple>

#include <gtest/gtest.h>

#include "trace/analysis.h"
#include "trace/reader.h"
#include "trace/report.h"
#include "trace_test_util.h"

namespace gp::trace {
namespace {

using nlohmann::json;
using testing::golden_path;
using testing::load_golden;
using testing::queue_event;
using testing::read_text;

constexpr std::uint64_t T0 = 1'000'000'000'000;  // start_monotonic_ns of the goldens
constexpr std::uint64_t S = 1'000'000'000, MS = 1'000'000, US = 1'000;

// Reads a golden trace under its bare file name, so reports do not depend on
// where the source tree is.
const QueueLife& life_of(const TraceAnalysis& a, std::uint32_t pid, std::uint32_t qid, std::size_t nth = 0) {
  for (std::size_t idx : a.processes.at(pid).lives)
    if (a.lives[idx].attrs.qid == qid && nth-- == 0) return a.lives[idx];
  throw std::runtime_error("no such queue life");
}

TEST(TraceReportFacts, Exp1OneModel) {
  Trace t = load_golden("trace_exp1_one_model.jsonl");
  TraceAnalysis a = analyze(t);
  ASSERT_EQ(a.processes.size(), 1u);
  const ProcessSummary& p = a.processes.at(4242);
  EXPECT_EQ(p.comm, "python3");
  EXPECT_EQ(p.program, "python3 model_a.py");
  EXPECT_EQ(p.qids, (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(p.creates, 2u);
  EXPECT_EQ(p.destroys, 2u);
  EXPECT_EQ(p.failed_creates, 1u);
  EXPECT_TRUE(p.stable());
  EXPECT_EQ(p.count.min, 1u);
  EXPECT_EQ(p.count.max, 2u);
  // 1 queue for 0.5 ms, 2 for 29.8993 s, 1 for 0.1 ms, over 29.8999 s.
  EXPECT_NEAR(p.count.mean, (0.0005 + 2 * 29.8993 + 0.0001) / 29.8999, 1e-9);
  EXPECT_EQ(p.count.window_begin_ns, T0 + 100 * MS);
  EXPECT_EQ(p.count.window_end_ns, T0 + 30 * S - 100 * US);

  const QueueLife& q1 = life_of(a, 4242, 1);
  EXPECT_EQ(q1.attrs.type, GP_QTYPE_SDMA);
  EXPECT_EQ(q1.created_ns, T0 + 100 * MS + 500 * US);
  EXPECT_EQ(q1.destroyed_ns, T0 + 30 * S - 100 * US);
  ASSERT_EQ(q1.spans.size(), 3u);  // active, evicted, active
  EXPECT_EQ(q1.spans[1].state, QueueState::Evicted);
  EXPECT_EQ(q1.spans[1].duration_ns(), 250 * MS);
  EXPECT_EQ(q1.spans[1].cause, Cause::Evict);

  ASSERT_EQ(a.preemptions.size(), 5u);
  EXPECT_FALSE(a.preemptions[0].info.packet_sent);
  EXPECT_EQ(a.preemptions[2].victims.size(), 2u);
  EXPECT_FALSE(a.preemptions[2].victims[0].collateral);
  EXPECT_EQ(a.preemptions[2].firmware_ns(), 405 * US);
  EXPECT_EQ(a.unmatched_victims, 0u);
}

TEST(TraceReportFacts, Exp3ConcurrentSuspendChurnAndCollateral) {
  Trace t = load_golden("trace_exp3_concurrent.jsonl");
  TraceAnalysis a = analyze(t);
  ASSERT_EQ(a.processes.size(), 2u);  // the debugger (6000) owns no queue
  const ProcessSummary& off = a.processes.at(5002);
  EXPECT_EQ(off.qids, (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(off.lives.size(), 3u);
  EXPECT_EQ(off.creates, 2u);   // qid 0 existed before the trace
  EXPECT_EQ(off.destroys, 3u);  // one destroy, two swept at exit
  EXPECT_EQ(off.creates_after_first_destroy, 1u);
  EXPECT_FALSE(off.stable());
  EXPECT_NEAR(off.count.mean, (2.0 + 4.0 + 1.0 + 2 * 4.001) / 9.001, 1e-9);

  const QueueLife& initial = life_of(a, 5002, 0);
  EXPECT_FALSE(initial.created_ns.has_value());
  EXPECT_EQ(initial.begin_ns, T0);
  EXPECT_EQ(initial.ended_by, EndReason::Sweep);
  EXPECT_EQ(initial.destroyed_ns, T0 + 9 * S + 1 * MS);
  const QueueLife& reused = life_of(a, 5002, 1, 1);  // qid 1, second life
  EXPECT_EQ(reused.created_ns, T0 + 5 * S);
  ASSERT_EQ(reused.spans.size(), 3u);
  EXPECT_EQ(reused.spans[1].state, QueueState::Suspended);
  EXPECT_EQ(reused.spans[1].begin_ns, T0 + 6 * S + 400 * US);
  EXPECT_EQ(reused.spans[1].duration_ns(), 20 * MS - 400 * US);

  EXPECT_EQ(concurrent_ns(a, 5001, 5002), 6 * S + 901 * MS);
  EXPECT_EQ(concurrent_ns(a, 5001, 5002, 48301u), 6 * S + 901 * MS);
  EXPECT_EQ(concurrent_ns(a, 5001, 5002, 1u), 0u);

  ASSERT_EQ(a.preemptions.size(), 2u);
  const Preemption& suspend = a.preemptions[0];
  EXPECT_EQ(suspend.cause, Cause::DbgSuspend);
  ASSERT_EQ(suspend.victims.size(), 3u);
  int collateral = 0;
  for (const auto& v : suspend.victims) {
    collateral += v.collateral;
    EXPECT_EQ(v.collateral, v.pid == 5001u);
    EXPECT_TRUE(v.life.has_value());
  }
  EXPECT_EQ(collateral, 1);
  EXPECT_EQ(suspend.firmware_ns(), 345 * US);

  // The order of creates and destroys, with the reuse of qid 1.
  std::vector<std::string> order;
  for (const auto& e : a.lifecycle) order.push_back(e.what + " " + std::to_string(e.pid));
  EXPECT_EQ(order, (std::vector<std::string>{"present 5002", "process-open 5001", "create 5001", "create 5001",
                                             "create 5002", "destroy 5002", "create 5002", "update 5002",
                                             "suspend_queues 5002", "destroy 5001", "destroy 5001",
                                             "terminate 5002", "sweep 5002"}));
}

// The lifecycle line of a debugger's SUSPEND belongs to its target. The BPF
// side fills dbg_target_pid (the ioctl's argument) but not always the tgid:
// then the pid is the target, not the event's own pid (the debugger).
TEST(TraceReportFacts, DebugSuspendWithoutTargetTgidIsTheTargets) {
  Trace t = load_golden("trace_exp3_concurrent.jsonl");
  int changed = 0;
  for (auto& e : t.events)
    if (e.kind() == EventKind::IoctlDbgTrap) {
      ASSERT_EQ(e.raw.io.dbg_target_pid, 5002u);
      e.raw.io.dbg_target_tgid = 0;
      ++changed;
    }
  ASSERT_GT(changed, 0);
  const TraceAnalysis a = analyze(t);
  int suspends = 0;
  for (const auto& e : a.lifecycle)
    if (e.what == "suspend_queues") {
      EXPECT_EQ(e.pid, 5002u) << "attributed to the debugger (6000)";
      ++suspends;
    }
  EXPECT_EQ(suspends, 1);
}

TEST(TraceReportFacts, Exp2IdsAcrossRuns) {
  std::vector<Trace> traces;
  for (const char* f : {"trace_exp2_model_a_run1.jsonl", "trace_exp2_model_a_run2.jsonl",
                        "trace_exp2_model_b_run1.jsonl", "trace_exp2_model_b_run2.jsonl"})
    traces.push_back(load_golden(f));
  std::vector<TraceAnalysis> runs;
  for (const auto& t : traces) runs.push_back(analyze(t));
  json j = report_json(runs);
  ASSERT_EQ(j["programs"].size(), 2u);
  EXPECT_EQ(j["programs"][0]["program"], "python3 model_a.py");
  EXPECT_EQ(j["programs"][0]["qids_identical"], true);
  EXPECT_EQ(j["programs"][1]["program"], "python3 model_b.py");
  EXPECT_EQ(j["programs"][1]["qids_identical"], false);
  EXPECT_EQ(j["programs"][1]["qids"], json({0, 1, 2, 3}));
  EXPECT_EQ(j["programs_compared"][0]["shared_qids"], json({0, 1}));
}

TEST(TraceReportFacts, PercentileIsNearestRank) {
  EXPECT_EQ(percentile({}, 50), 0u);
  EXPECT_EQ(percentile({7}, 99), 7u);
  EXPECT_EQ(percentile({150, 120}, 50), 120u);
  EXPECT_EQ(percentile({150, 120}, 90), 150u);
  std::vector<std::uint64_t> hundred;
  for (std::uint64_t i = 100; i >= 1; --i) hundred.push_back(i);
  EXPECT_EQ(percentile(hundred, 50), 50u);
  EXPECT_EQ(percentile(hundred, 99), 99u);
  EXPECT_EQ(percentile(hundred, 100), 100u);
}

TEST(TraceReportFacts, LostRemoveAndPointerReuse) {
  Trace t;
  t.header.start_monotonic_ns = 100;
  // Add kptr A, add kptr A again without a remove (the remove was lost),
  // remove an unknown kptr B.
  t.events.push_back(queue_event(EventKind::QueueAdd, 200, 7, 0, 0xA));
  t.events.push_back(queue_event(EventKind::QueueAdd, 300, 7, 1, 0xA));
  t.events.push_back(queue_event(EventKind::QueueRemove, 400, 7, 5, 0xB));
  t.trailer = Trailer{3, 0, 500, 0};
  TraceAnalysis a = analyze(t);
  ASSERT_EQ(a.lives.size(), 2u);
  EXPECT_EQ(a.lives[0].ended_by, EndReason::Replaced);
  EXPECT_EQ(a.lives[0].end_ns, 300u);
  EXPECT_FALSE(a.lives[0].destroyed_ns.has_value());
  EXPECT_EQ(a.lives[1].ended_by, EndReason::TraceEnd);
  EXPECT_EQ(a.lives[1].end_ns, 500u);
  EXPECT_EQ(a.unmatched_removes, 1u);
  EXPECT_NE(report_text({a}).find("⚠️ 1 remove of queues never seen created"), std::string::npos);
}

// ------------------------------------------------------------------ golden

void check_golden(const std::vector<std::string>& files, const std::string& name) {
  std::vector<Trace> traces;
  for (const auto& f : files) traces.push_back(load_golden(f));
  std::vector<TraceAnalysis> runs;
  for (const auto& t : traces) runs.push_back(analyze(t));
  std::string text = report_text(runs);
  std::string js = report_json(runs).dump(2) + "\n";
  std::string text_path = golden_path(name + ".expected.txt"), json_path = golden_path(name + ".expected.json");
  if (std::getenv("GP_UPDATE_GOLDEN")) {
    testing::write_text(text_path, text);
    testing::write_text(json_path, js);
    GTEST_SKIP() << "golden files rewritten: review the diff";
  }
  EXPECT_EQ(text, read_text(text_path)) << "report text differs from " << text_path;
  EXPECT_EQ(js, read_text(json_path)) << "report JSON differs from " << json_path;
}

TEST(TraceReportGolden, Exp1OneModel) { check_golden({"trace_exp1_one_model.jsonl"}, "trace_report_exp1"); }

TEST(TraceReportGolden, Exp2FourRuns) {
  check_golden({"trace_exp2_model_a_run1.jsonl", "trace_exp2_model_a_run2.jsonl", "trace_exp2_model_b_run1.jsonl",
                "trace_exp2_model_b_run2.jsonl"},
               "trace_report_exp2");
}

TEST(TraceReportGolden, Exp3Concurrent) { check_golden({"trace_exp3_concurrent.jsonl"}, "trace_report_exp3"); }

// The version 1 and 2 fixtures of the same scenarios give the same reports.
// They are read under the current name, which the reports print.
TEST(TraceReportGolden, Version1And2FilesGiveTheSameReports) {
  for (const auto& [old, current, golden, version] :
       {std::tuple{"trace_v1_exp1_one_model.jsonl", "trace_exp1_one_model.jsonl", "trace_report_exp1", 1},
        std::tuple{"trace_v1_exp3_concurrent.jsonl", "trace_exp3_concurrent.jsonl", "trace_report_exp3", 1},
        std::tuple{"trace_v2_exp1_one_model.jsonl", "trace_exp1_one_model.jsonl", "trace_report_exp1", 2},
        std::tuple{"trace_v2_exp3_concurrent.jsonl", "trace_exp3_concurrent.jsonl", "trace_report_exp3", 2}}) {
    SCOPED_TRACE(old);
    std::ifstream in(golden_path(old), std::ios::binary);
    Trace t = read_trace(in, current);
    EXPECT_EQ(t.header.version, version);
    std::vector<TraceAnalysis> runs{analyze(t)};
    EXPECT_EQ(report_text(runs), read_text(golden_path(std::string(golden) + ".expected.txt")));
    EXPECT_EQ(report_json(runs).dump(2) + "\n", read_text(golden_path(std::string(golden) + ".expected.json")));
  }
}

}  // namespace
}  // namespace gp::trace
